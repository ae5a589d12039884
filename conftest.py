"""Doctest collection of ``querygym/``: an integration module whose framework is not installed is
left out (its tests in ``tests/integrations`` skip with the extra to install)."""

import importlib.util

collect_ignore = [path for path, module in [("querygym/integrations/verifiers.py", "verifiers"),
                                            ("querygym/integrations/skyrl.py", "skyrl_gym")]
                  if importlib.util.find_spec(module) is None]
