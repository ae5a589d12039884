"""Train a model with TRL's GRPOTrainer on querygym, through the OpenEnv server.

Needs a GPU, a model, and TRL with its torch stack (not installed by querygym's extras):

    pip install 'querygym-ra[openenv]' trl 'transformers>=5.2' datasets accelerate
    querygym serve-env --port 8000 --max-sessions 64 &          # the environment, one episode per session
    python examples/grpo_openenv.py --model Qwen/Qwen3-0.6B --env-url http://127.0.0.1:8000

TRL's ``environment_factory`` makes one :class:`QueryGymToolEnv` per rollout: its public method
``act`` is the model's tool (TRL reads its signature and docstring), ``reset`` starts the
dataset row's task on the server and appends the overview to the prompt, and ``get_reward``
returns querygym's reward for the episode (1.0 for the right answer table, 0.1 once for a subset
or superset).  ``--max-sessions`` must cover the rollouts generated at once
(``per_device_train_batch_size`` x processes).  The test suite only checks that this file
compiles; it is not run there.
"""

from __future__ import annotations

import argparse

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

import querygym
from querygym.integrations.openenv import QueryGymClient

ENV_URL = "http://127.0.0.1:8000"


class QueryGymToolEnv:
    """One rollout's querygym episode on the OpenEnv server, seen by the model as the tool ``act``."""

    def __init__(self, base_url: str = ENV_URL):
        self.client = QueryGymClient(base_url=base_url).sync()
        self.client.connect()
        self.total_reward = 0.0
        self.done = False

    def reset(self, task_id: str, **row) -> str:
        result = self.client.reset(task_id=task_id)
        self.total_reward, self.done = 0.0, False
        return "\n\n" + result.observation.text

    def act(self, action: str) -> str:
        """Play one querygym action and return what the environment answers.

        Args:
            action: One action of the catalog as a JSON list, for example '["get_tables"]' or
                '["perform_limit", "T_0", "10"]'.

        Returns:
            The observation: the data the action shows, the new intermediate table, or the error.
        """
        if self.done:
            return "The episode is over."
        result = self.client.step(action)
        self.total_reward += result.reward or 0.0
        self.done = result.done
        return result.observation.text

    def get_reward(self) -> float:
        return self.total_reward


def train_dataset(tasks: querygym.TaskSet) -> Dataset:
    system = querygym.catalog().render_prompt().replace(
        'Reply with exactly one action per turn, written as\n  Action: ["<action name>", "<parameter>", ...]',
        'Play one action per turn by calling the tool act with the action\'s JSON list, e.g. ["get_tables"].')
    return Dataset.from_list([
        {"prompt": [{"role": "system", "content": system},
                    {"role": "user", "content": "Answer the question over the database below."}],
         "task_id": str(task.id)}
        for task in tasks.playable()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="Qwen/Qwen3-0.6B", help="a chat model that calls tools")
    parser.add_argument("--env-url", default=ENV_URL, help="the querygym serve-env server")
    parser.add_argument("--output-dir", default="querygym-grpo")
    parser.add_argument("--max-steps", type=int, default=200, help="training steps")
    args = parser.parse_args()

    config = GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=8,
        num_generations=8,
        max_completion_length=2048,
        max_tool_calling_iterations=12,  # querygym actions per episode
        learning_rate=1e-6,
        logging_steps=1,
        log_completions=True,
    )
    trainer = GRPOTrainer(
        model=args.model,
        args=config,
        train_dataset=train_dataset(querygym.builtin_tasks()),
        environment_factory=lambda: QueryGymToolEnv(args.env_url),  # the reward is the env's get_reward
    )
    trainer.train()


if __name__ == "__main__":
    main()
