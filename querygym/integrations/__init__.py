"""querygym inside reinforcement-learning frameworks, one module per framework.

- :mod:`querygym.integrations.openenv` — an OpenEnv server (typed action, observation and state
  built from ``actions.yaml``; one episode per WebSocket session) and its client, started with
  ``querygym serve-env``.  Extra: ``openenv``.
- :mod:`querygym.integrations.verifiers` — a verifiers (v1) taskset whose tasks are querygym
  tasks and a multi-turn environment whose tools are querygym's actions (or, in text, one action
  per reply), scored by querygym's reward.  Extra: ``verifiers``.
- :mod:`querygym.integrations.skyrl` — a skyrl-gym text environment registered as ``querygym``.
  Extra: ``skyrl``.

Every framework is imported only when its module's functions or classes are first used, so
``import querygym`` (and ``import querygym.integrations.openenv``) needs none of them.
"""
