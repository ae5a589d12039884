"""The Gymnasium environment: the episode loop, the handlers of the exploration and workflow
actions behind one registry, observations and the reward."""
