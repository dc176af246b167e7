import sys
from pathlib import Path

# The shared test tables (fidelity_cases) sit beside the tests.
sys.path.insert(0, str(Path(__file__).parent))
