"""Gymnasium vector environments return what single environments return, step by step.

``make_vec`` in ``"sync"`` and ``"async"`` mode (shared memory on, Gymnasium's default) is
compared with one :class:`~querygym.env.environment.QueryGymEnv` per slot, seeded as
``reset(seed=s)`` seeds a vector environment's slot ``i`` (``s + i``) and given the same actions;
a slot that ended is reset on its next step (Gymnasium's default ``NEXT_STEP`` autoreset),
which the reference replays by hand.  Observations hold non-ASCII text (an agent's condition
echoed back, an unreadable reply), which Gymnasium's shared-memory encoding of ``Text`` cannot
carry (see :mod:`querygym.env.spaces`).
"""

from __future__ import annotations

import multiprocessing
from copy import deepcopy

import gymnasium
import numpy as np
import pytest
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from querygym.env.spaces import TextSpace

NUM_ENVS = 3
SEED = 11
#: actions of slot i at step t: SCRIPT[t][i % len(SCRIPT[t])]; task 9's reference ends slot 0 at step 2
SCRIPT = [
    ['["get_unique_values", "customers", "customers.segment"]', '["get_tables"]', '["preview_table", "orders"]'],
    ['["perform_aggregate", "customers", "customers.segment", "customers.segment, COUNT(*) AS num_customers"]',
     '["perform_filter", "customers", "customers.name <> \'Zoë — “Ünïcode” ✓\'"]',
     "Réponse : je ne sais pas ✗"],
    ['["get_tables"]', '["perform_projection", "T_0", "T_0.name"]', '["perform_filter", "nowhere", "1=1"]'],
    ['["preview_table", "customers"]', '["get_column_stats", "customers", "customers.segment"]',
     '["get_actions"]'],
    ['["perform_limit", "T_0", "2"]', '["perform_order_by", "T_0", "T_0.name DESC"]', '["get_operations"]'],
]


def _reference(seed: int) -> list[list[tuple]]:
    """What each slot should return at reset and at every step, from single environments."""
    trace = []
    envs = [gymnasium.make("querygym/QueryGym-v0") for _ in range(NUM_ENVS)]
    try:
        first = [env.reset(seed=seed + i, options={"task_id": 9}) for i, env in enumerate(envs)]
        trace.append([(obs, info["task_id"]) for obs, info in first])
        ended = [False] * NUM_ENVS
        for actions in SCRIPT:
            row = []
            for i, env in enumerate(envs):
                if ended[i]:  # NEXT_STEP autoreset: this step resets the slot and ignores its action
                    obs, info = env.reset()
                    row.append((obs, 0.0, False, False, info["kind"]))
                    ended[i] = False
                    continue
                obs, reward, terminated, truncated, info = env.step(actions[i % len(actions)])
                row.append((obs, reward, terminated, truncated, info["kind"]))
                ended[i] = terminated or truncated
            trace.append(row)
    finally:
        for env in envs:
            env.close()
    return trace


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_environments_step_exactly_like_single_environments(mode):
    expected = _reference(SEED)
    vector_kwargs = {"shared_memory": True} if mode == "async" else {}
    envs = gymnasium.make_vec("querygym/QueryGym-v0", num_envs=NUM_ENVS, vectorization_mode=mode,
                              vector_kwargs=vector_kwargs)
    try:
        if mode == "async":
            assert envs.shared_memory
        obs, info = envs.reset(seed=SEED, options={"task_id": 9})
        assert isinstance(obs, tuple)
        assert list(obs) == [o for o, _ in expected[0]] and list(info["task_id"]) == [9] * NUM_ENVS
        ended_any = False
        for t, actions in enumerate(SCRIPT, start=1):
            step_actions = tuple(actions[i % len(actions)] for i in range(NUM_ENVS))
            obs, reward, terminated, truncated, info = envs.step(step_actions)
            assert isinstance(obs, tuple) and len(obs) == NUM_ENVS
            for i in range(NUM_ENVS):
                want_obs, want_reward, want_terminated, want_truncated, want_kind = expected[t][i]
                assert obs[i] == want_obs, f"step {t}, slot {i}: {obs[i][:80]!r} != {want_obs[:80]!r}"
                assert reward[i] == want_reward, (t, i)
                assert bool(terminated[i]) == want_terminated and bool(truncated[i]) == want_truncated, (t, i)
                assert info["kind"][i] == want_kind, (t, i)
            ended_any = ended_any or bool(np.any(terminated))
        assert ended_any, "the script should end an episode, so that autoreset is compared too"
        assert any(not slot[0].isascii() for row in expected[1:] for slot in row), "no non-ASCII text compared"
    finally:
        envs.close()


def test_shared_memory_round_trips_any_text_up_to_the_cap():
    space = TextSpace(12)
    memory = create_shared_memory(space, n=3, ctx=multiprocessing)
    texts = read_from_shared_memory(space, memory, n=3)
    values = ["", "Zoë — ✓ \x00 \ud800", "x" * 12]
    for i, value in enumerate(values):
        write_to_shared_memory(space, i, value, memory)
    assert tuple(texts) == tuple(values)
    write_to_shared_memory(space, 2, "short", memory)  # a shorter text replaces a longer one entirely
    assert texts[2] == "short"
    assert deepcopy(texts) == ("", values[1], "short") and type(deepcopy(texts)) is tuple
    with pytest.raises(ValueError, match="at most 12 characters"):
        write_to_shared_memory(space, 0, "y" * 13, memory)

