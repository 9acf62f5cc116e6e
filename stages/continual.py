"""Stage continual: one strategy through one scenario's tasks -> its record and its DVC metrics.

Usage: python -m stages.continual <scenario> <strategy>   (params scenarios.<scenario>, strategies.<strategy>)
The strategy runs with its params group's keys, and those of its `per_scenario.<scenario>`
over them (params.validate_strategy).
The record, results/continual/<scenario>/<strategy>.json (mnist_transfer/scenarios.py's
run): the tasks in the order learnt, the accuracy matrix R, the mean accuracy over tasks
(the headline), over every test image, each task's just after it was learnt, BWT and
forgetting; per-digit accuracy after the last task; the stored images, the bytes held
between tasks and at the end, and the number of images trained on. Its scalars that a
reader compares (scenarios.METRICS) are also the stage's DVC metrics file.
"""

import logging
import sys
import time

from mnist_transfer.errors import StageError
from mnist_transfer.stage import run_stage

log = logging.getLogger("stages.continual")


def main(all_params: dict) -> None:
    usage = "usage: python -m stages.continual <scenario> <strategy>"
    if len(sys.argv) != 3:
        raise StageError(usage)
    scenario_name, strategy_name = sys.argv[1:]
    for kind, name in (("scenarios", scenario_name), ("strategies", strategy_name)):
        if name not in all_params[kind]:
            raise StageError(f"params.yaml has no {kind}.{name} (it has {', '.join(all_params[kind])}); {usage}")
    scenario = all_params["scenarios"][scenario_name]
    from mnist_transfer import scenarios, strategies
    from mnist_transfer.artifacts import write_json
    from mnist_transfer.data import load_split

    params = strategies.params_for(strategy_name, all_params, scenario_name)
    override = all_params["strategies"][strategy_name].get("per_scenario", {}).get(scenario_name, {})

    def key_name(key: str) -> str:
        where = f"per_scenario.{scenario_name}." if key in override else ""
        return f"strategies.{strategy_name}.{where}{key}"

    order = scenarios.task_order(scenario["tasks"], scenario["task_order"], all_params["seed"])
    tasks = scenarios.make_tasks(order, load_split("0-9"), scenario["incremental"])
    schema = strategies.module(strategy_name).Params
    scenarios.check_samples(schema, params, key_name, tasks, scenario_name, all_params["prepare"]["train_limit"])

    if "mnist_transfer.quiet_tf" in sys.modules:  # the strategy's module runs a network
        from mnist_transfer import training

        training.use_precision(all_params["precision"])  # checks the library versions too
        training.seed_everything(all_params["seed"])
    else:  # no TensorFlow to start (4-5 s): the strategy seeds its own generator, if any
        from mnist_transfer.compute import check_versions

        check_versions()
    strategy = strategies.load(strategy_name, params, scenario, all_params["seed"])
    cpu, wall = time.process_time(), time.perf_counter()
    result = scenarios.run(strategy, tasks, scenario["incremental"])
    log.info(
        "%s on %s: average accuracy %.4f, %.1f s CPU, %.1f s wall",
        strategy_name,
        scenario_name,
        result["average_accuracy"],
        time.process_time() - cpu,
        time.perf_counter() - wall,
    )
    record = {**result, "seed": all_params["seed"]}  # the seed, for the seed study (python -m seeds <scenario>)
    write_json(f"results/continual/{scenario_name}/{strategy_name}.json", record)
    write_json(
        f"metrics/continual/{scenario_name}/{strategy_name}.json", {key: record[key] for key in scenarios.METRICS}
    )


if __name__ == "__main__":
    run_stage("continual", main)
