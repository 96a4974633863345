"""Runs every test_*.py here against the generated module and prints one closing line
that scripts/test.sh counts. Exits non-zero when any test failed."""

import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
suite = unittest.defaultTestLoader.discover(here, pattern="test_*.py", top_level_dir=here)
result = unittest.TextTestRunner(verbosity=2).run(suite)
failed = len(result.failures) + len(result.errors)
print(f"python: {result.testsRun - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
