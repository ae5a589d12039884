"""The action catalog: ``actions.yaml`` (the only source of every action's name, parameters,
description, examples and cost), its loader (:mod:`querygym.actions.catalog`), and the reader of
an agent's text (:mod:`querygym.actions.parse`).  A leaf layer: loading the catalog imports no
engine."""
