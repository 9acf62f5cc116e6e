"""Continual learning on a sequence of tasks: the run, its accuracy matrices, and every strategy on toy digits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mnist_transfer.data import Split
from mnist_transfer.scenarios import make_tasks, restricted_prediction, run

FIVE_TASKS = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]


def bar_digits(per_digit: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Toy 'digits': digit d is a bright bar across rows 2d+4 and 2d+5, on noise. Any fair learner tells them apart."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(10), per_digit)
    x = rng.integers(0, 60, (len(y), 28, 28)).astype(np.uint8)
    for d in range(10):
        x[y == d, 2 * d + 4 : 2 * d + 6, 4:24] = 250
    order = rng.permutation(len(y))
    return x[order], y[order]


@pytest.fixture(scope="module")
def toy_split() -> Split:
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = (bar_digits(n, s) for n, s in ((60, 0), (10, 1), (20, 2)))
    return Split("0-9", x_train, y_train, x_val, y_val, x_test, y_test)


class Oracle:
    """Knows the digits of every task it has learnt (or, forgetful, of the last one only)."""

    def __init__(self, forgetful: bool = False) -> None:
        self.known: set[int] = set()
        self.forgetful = forgetful
        self.images_trained = 0

    def learn(self, task, seen) -> None:
        self.known = set(task.classes) if self.forgetful else self.known | set(task.classes)
        self.images_trained += len(task.y_train)

    def scores(self, x: np.ndarray) -> np.ndarray:
        bars = x[:, 4:24:2, 4:24].mean(axis=2) + x[:, 5:25:2, 4:24].mean(axis=2)  # one column per digit
        return np.where(np.isin(np.arange(10), list(self.known)), bars, -1.0)

    def held_bytes(self) -> int:
        return 8 * len(self.known)  # grows with every task

    def stored_images(self) -> int:
        return 0


def test_tasks_are_cut_from_the_split_by_digit(toy_split: Split) -> None:
    tasks = make_tasks([[0, 1, 2, 3, 4, 5, 6], [7, 8, 9]], toy_split)
    assert [task.digits for task in tasks] == [(0, 1, 2, 3, 4, 5, 6), (7, 8, 9)]
    assert sum(len(task.y_train) for task in tasks) == len(toy_split.y_train)
    assert set(tasks[1].y_test) == {7, 8, 9} and set(tasks[0].y_val) <= set(range(7))


def test_a_learner_that_keeps_everything_has_a_perfect_lower_triangle(toy_split: Split) -> None:
    result = run(Oracle(), make_tasks(FIVE_TASKS, toy_split))
    r = np.array([list(row.values()) for row in result["R"].values()])
    np.testing.assert_array_equal(r, np.tril(np.ones((5, 5))))  # unseen tasks: 0
    assert result["accuracy"] == result["average_accuracy"] == result["learning_accuracy"] == 1.0
    assert result["bwt"] == result["forgetting"] == 0.0
    assert result["images_trained"] == len(toy_split.y_train) and result["test_images"] == len(toy_split.y_test)
    assert result["carried_bytes"] == 8 * 8 and result["held_bytes"] == 8 * 10  # after task 4, after task 5


def test_a_learner_that_forgets_scores_only_its_last_task(toy_split: Split) -> None:
    result = run(Oracle(forgetful=True), make_tasks(FIVE_TASKS, toy_split))
    assert list(result["R"]["after task 5"].values()) == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert result["bwt"] == -1.0 and result["forgetting"] == 1.0 and result["average_accuracy"] == 0.2
    assert result["learning_accuracy"] == 1.0  # it learnt each task: its loss is forgetting, not plasticity
    assert result["per_class_accuracy"]["9"] == 1.0 and result["per_class_accuracy"]["0"] == 0.0


class Diverged(Oracle):
    """Scores one test image NaN (or +inf) for every seen digit, once it has learnt four digits."""

    def __init__(self, bad: float, unseen_only: bool = False) -> None:
        super().__init__()
        self.bad, self.unseen_only = bad, unseen_only

    def scores(self, x: np.ndarray) -> np.ndarray:
        scores = super().scores(x)
        if len(self.known) >= 4:
            columns = [d for d in range(10) if d not in self.known] if self.unseen_only else sorted(self.known)
            scores[0, columns] = self.bad
        return scores


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_scores_that_are_nan_or_plus_inf_are_refused_with_the_digits_learnt(toy_split: Split, bad: float) -> None:
    from mnist_transfer.errors import StageError

    with pytest.raises(StageError) as refused:
        run(Diverged(bad), make_tasks(FIVE_TASKS, toy_split))
    said = (
        "the strategy scored 1 of 40 test images NaN or +inf after learning classes 0, 1, 2, 3: its training diverged"
    )
    assert str(refused.value).startswith(said)
    assert "lower the scenario's learning_rate" in str(refused.value)


def test_unseen_digits_may_score_anything(toy_split: Split) -> None:
    """Only the seen digits' columns are read: a NaN or -inf elsewhere (branch's unseen digits) is no fault."""
    assert run(Diverged(np.nan, unseen_only=True), make_tasks(FIVE_TASKS, toy_split))["accuracy"] == 1.0


def test_prediction_is_restricted_to_the_allowed_digits() -> None:
    scores = np.array([[0.0, 5.0, 1.0, 9.0], [3.0, 0.0, 2.0, 9.0]])
    assert restricted_prediction(np.pad(scores, ((0, 0), (0, 6))), (0, 2)).tolist() == [2, 0]


SCENARIO = {
    "tasks": FIVE_TASKS,
    "network": "mlp",
    "iterations": 40,
    "batch_size": 32,
    "learning_rate": 0.001,
    "incremental": "class",
    "active_outputs": "seen",
    "task_order": "fixed",
}
PARAMS = {
    "finetune": {},
    "freeze": {},
    "branch": {},
    "joint": {},
    "replay": {"per_class": 3, "max_images": 12},
    "ewc": {"strength": 1e3, "fisher": "2019", "fisher_samples": 16},
    "lwf": {"temperature": 2.0, "weighting": "2019"},
    "ppca": {"components": 3, "deskew": False},
    "hybrid_replay": {"per_class": 3, "max_images": 12, "shift": 2, "components": 3, "drawn_per_stored": 2},
}


@pytest.fixture(scope="module")
def results(toy_split: Split) -> dict[str, dict]:
    from mnist_transfer import strategies, training

    out = {}
    for name, params in PARAMS.items():
        training.seed_everything(0)
        out[name] = run(strategies.load(name, params, SCENARIO, seed=0), make_tasks(FIVE_TASKS, toy_split))
    return out


def test_the_toy_params_fit_each_strategy_schema() -> None:
    from mnist_transfer.params import validate_strategy
    from mnist_transfer.strategies import module

    for name, params in PARAMS.items():
        assert validate_strategy(name, module(name).Params, params, "toy", ["toy"]) == params


def test_fine_tuning_forgets_and_joint_training_does_not(results: dict) -> None:
    assert results["finetune"]["forgetting"] > 0.5 and results["finetune"]["learning_accuracy"] > 0.9
    assert results["joint"]["accuracy"] > 0.9


def test_replay_keeps_a_balanced_buffer_within_its_limit(results: dict) -> None:
    # 12 images at most: 3 per digit for 2 and 4 digits, 2 for 6, 1 for 8 and 10 digits
    assert results["replay"]["stored_images"] == 10
    assert results["replay"]["accuracy"] > results["finetune"]["accuracy"]
    # from task 2 on, every step replays min(batch 32, the buffer): 6, 12, 12, then 8 images
    assert results["replay"]["images_trained"] == 5 * 40 * 32 + 40 * (6 + 12 + 12 + 8)


def test_every_strategy_is_counted_by_one_ledger(results: dict) -> None:
    """Held: the network and Adam's state (what fine-tuning holds) plus what the strategy keeps; carried: the most
    held between two tasks."""
    from mnist_transfer.models import build_mlp, split_network

    weights = build_mlp().count_params() * 4
    network = results["finetune"]["held_bytes"]
    scalars = network - 3 * weights  # Adam's moments are two more copies of the weights; its step counter
    assert 0 < scalars <= 16
    assert results["freeze"]["held_bytes"] == network  # Adam's state of the frozen trunk stays, unused
    assert results["finetune"]["carried_bytes"] == network
    extra = {name: result["held_bytes"] - network for name, result in results.items() if name != "ppca"}
    assert extra["lwf"] == weights  # the network before the task
    # a Fisher and the weights per task but the last, which nothing would use (as in the reference)
    assert extra["ewc"] == results["ewc"]["carried_bytes"] - network == 4 * 2 * weights
    assert extra["joint"] == 600 * (28 * 28 + 1)  # every training image, and its label
    assert results["joint"]["stored_images"] == 600
    # replay: 10 images at the end (one per digit); 12 between tasks 3 and 4 (two for each of six digits)
    assert extra["replay"] == 10 * (28 * 28 + 1) and results["replay"]["carried_bytes"] - network == 12 * 785
    assert results["ppca"]["held_bytes"] == 10 * (784 * 4 + 3 + 1) * 4 and results["ppca"]["stored_images"] == 0
    assert extra["hybrid_replay"] == 10 * (28 * 28 + 1) + 10 * 784 * (1 + 3) * 4  # images, PPCAs
    _, head = split_network(build_mlp(), "mlp")
    head = sum(layer.count_params() for layer in head) * 4
    # branch: the trunk and the last head, Adam's state of that head alone, and heads 1 to 4
    assert results["branch"]["held_bytes"] == weights + 2 * head + scalars + 4 * head


def weights_of(layers: list) -> list[np.ndarray]:
    return [np.copy(w) for layer in layers for w in layer.get_weights()]


def same(before: list[np.ndarray], after: list[np.ndarray]) -> bool:
    return len(before) == len(after) and all(np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_freeze_trains_the_trunk_on_the_first_task_only(toy_split: Split) -> None:
    from mnist_transfer import training
    from mnist_transfer.models import TRUNK_END, split_network
    from mnist_transfer.strategies import load

    training.seed_everything(0)
    freeze = load("freeze", {}, SCENARIO, seed=0)
    trunk, head = split_network(freeze.network, SCENARIO["network"])
    assert trunk[-1].name == TRUNK_END["mlp"] and head
    tasks = make_tasks(FIVE_TASKS, toy_split)
    initial = weights_of(trunk)
    freeze.learn(tasks[0], tasks[0].digits)
    assert not same(initial, weights_of(trunk))  # the whole network learns the first task
    after_first, head_after_first = weights_of(trunk), weights_of(head)
    seen = tasks[0].digits
    for task in tasks[1:3]:
        seen = seen + task.digits
        freeze.learn(task, seen)
    assert same(after_first, weights_of(trunk))  # to the bit
    assert not any(np.array_equal(b, a) for b, a in zip(head_after_first, weights_of(head), strict=True))


def test_branch_changes_no_earlier_head(toy_split: Split) -> None:
    """The trunk and head 1 are frozen after task 1, each later head after its task: every head stays as learnt."""
    from mnist_transfer import training
    from mnist_transfer.models import split_network
    from mnist_transfer.strategies import load

    training.seed_everything(0)
    branch = load("branch", {}, SCENARIO, seed=0)
    trunk, _ = split_network(branch.network, SCENARIO["network"])
    initial_trunk = weights_of(trunk)
    learnt, seen = [], ()
    for task in make_tasks(FIVE_TASKS, toy_split):
        seen = seen + task.digits
        branch.learn(task, seen)
        head, digits = branch.heads[-1]
        assert digits == task.digits
        learnt.append(weights_of(split_network(head, SCENARIO["network"])[1]))
    assert len(branch.heads) == 5 and not same(initial_trunk, weights_of(trunk))
    trunk_after_first = weights_of(split_network(branch.heads[0][0], SCENARIO["network"])[0])
    for (head, _), weights in zip(branch.heads, learnt, strict=True):
        own_trunk, own_head = split_network(head, SCENARIO["network"])
        assert same(weights, weights_of(own_head))
        assert same(trunk_after_first, weights_of(own_trunk))  # one trunk, shared by every head
    assert not same(learnt[0], learnt[1])  # a head of its own, not head 1 again


@pytest.fixture(scope="module")
def told_the_task(toy_split: Split) -> dict[str, dict]:
    """Some strategies in task-incremental learning."""
    from mnist_transfer import strategies, training

    scenario = {**SCENARIO, "incremental": "task"}
    out = {}
    for name in ("finetune", "branch", "joint", "replay"):
        training.seed_everything(0)
        strategy = strategies.load(name, PARAMS[name], scenario, seed=0)
        out[name] = run(strategy, make_tasks(FIVE_TASKS, toy_split, "task"), "task")
    return out


def test_branch_keeps_each_tasks_task_incremental_accuracy(told_the_task: dict) -> None:
    """Told the task, an image is read by its task's head alone, which nothing changes after its task."""
    r = told_the_task["branch"]["R"]
    assert r["after task 5"]["task 1"] == r["after task 1"]["task 1"] > 0.9
    for j in range(1, 6):
        assert len({r[f"after task {i}"][f"task {j}"] for i in range(j, 6)}) == 1
    assert told_the_task["branch"]["forgetting"] == 0.0


def test_told_the_task_fine_tuning_forgets_less_and_joint_and_replay_keep_every_task(
    told_the_task: dict, results: dict
) -> None:
    assert told_the_task["finetune"]["average_accuracy"] > results["finetune"]["average_accuracy"] + 0.2
    # each image's softmax over its own task's digits, the replayed ones' and joint's earlier tasks' too
    assert told_the_task["joint"]["average_accuracy"] > 0.95 and told_the_task["replay"]["average_accuracy"] > 0.95


def test_ewc_fisher_in_chunks_is_the_fisher_of_every_image_at_once(
    toy_split: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chunks only bound memory: the sums of squared gradients come out as in one chunk, to float32 rounding."""
    from mnist_transfer import models
    from mnist_transfer.quiet_tf import keras, tf
    from mnist_transfer.strategies import ewc
    from mnist_transfer.strategies.network import masked_logits

    def tiny(outputs: int) -> keras.Model:
        inputs = keras.Input((28 * 28,))
        hidden = keras.layers.Dense(8, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(outputs)(hidden))

    monkeypatch.setitem(models.NETWORKS, "tiny", tiny)
    scenario = {**SCENARIO, "network": "tiny"}
    params = {"strength": 1.0, "fisher": "2019", "fisher_samples": 23}
    task = make_tasks(FIVE_TASKS, toy_split)[1]
    task = dataclasses.replace(task, x_train=task.x_train[:23], y_train=task.y_train[:23])  # every image, in order
    first = ewc.Strategy(params, scenario, seed=0)
    kernel, bias = first.network.layers[-1].get_weights()
    # digit 0 well ahead on every image: the predicted digit is never a near tie, which the one-image loop
    # below and the vectorised Fisher could break apart by float rounding
    first.network.layers[-1].set_weights([kernel, bias + np.eye(10, dtype="float32")[0] * 3.0])
    fishers, chunks = [], []
    for chunk in (1000, 5):  # one chunk; chunks of 5, 5, 5, 5 and 3
        monkeypatch.setattr(ewc, "FISHER_CHUNK", chunk)
        strategy = first if not fishers else ewc.Strategy(params, scenario, seed=0)
        strategy.network.set_weights(first.network.get_weights())
        sums, sizes = strategy._squared_gradient_sums, []
        strategy._squared_gradient_sums = lambda x, allowed, classes, sums=sums, sizes=sizes: (
            sizes.append(len(x)) or sums(x, allowed, classes)
        )
        strategy.allowed = strategy.mask((0, 1, 2, 3))  # as if it had trained on them
        strategy.after_task(task, (0, 1, 2, 3))
        fishers.append([f.numpy() for f in strategy.terms[0][0]])
        chunks.append(sizes)
    assert chunks == [[23], [5, 5, 5, 5, 3]]
    whole, chunked = fishers
    assert [f.shape for f in whole] == [(784, 8), (8,), (8, 10), (10,)]
    assert all(np.abs(f).max() > 0 for f in whole)
    for one, parts in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(parts, one, rtol=1e-6, atol=1e-6 * np.abs(one).max())
    # and both are the mean over the images of the squared gradient of log p(the network's own digit)
    network, allowed = first.network, first.mask((0, 1, 2, 3))
    squares = []
    for image in task.x_train.reshape(23, -1).astype("float32") / 255.0:
        with tf.GradientTape() as tape:
            log_p = tf.nn.log_softmax(masked_logits(network(image[None]), allowed))[0]
            top = tf.reduce_max(log_p)
        squares.append([g.numpy() ** 2 for g in tape.gradient(top, network.trainable_variables)])
    for i, one in enumerate(whole):
        mean = np.mean([square[i] for square in squares], axis=0)
        np.testing.assert_allclose(one, mean, rtol=1e-5, atol=1e-6 * np.abs(mean).max())


def test_hybrid_replay_draws_twice_as_many_images_as_it_replays_stored_ones(results: dict) -> None:
    stored = 40 * (6 + 12 + 12 + 8)  # as replay's (test_replay_keeps_a_balanced_buffer_within_its_limit)
    assert results["hybrid_replay"]["images_trained"] == 5 * 40 * 32 + (1 + 2) * stored
    assert results["hybrid_replay"]["accuracy"] > results["finetune"]["accuracy"]


def test_drawn_images_are_pixels_of_earlier_digits(toy_split: Split) -> None:
    from mnist_transfer.strategies import load

    params = PARAMS["hybrid_replay"]
    strategy = load("hybrid_replay", params, SCENARIO, seed=0)
    first = make_tasks(FIVE_TASKS, toy_split)[0]
    strategy.learn(first, first.digits)
    x, y, masks = strategy.replay_batch()
    assert x.shape == ((1 + 2) * 6, 784) and x.dtype == np.float32 and masks.shape == (18, 10)
    assert set(y.tolist()) <= {0, 1} and x.min() >= 0.0 and x.max() <= 1.0
    drawn = x[6:]
    assert not any(np.allclose(image, stored) for image in drawn for stored in strategy.x)  # none is a stored one


def test_shift_moves_each_image_whole_and_zero_is_no_move() -> None:
    from mnist_transfer.pixels import shift

    image = np.zeros((28, 28), dtype="float32")
    image[10:14, 12] = 1.0  # a short upright stroke, far from the edges
    images = np.repeat(image.reshape(1, -1), 50, axis=0)
    moved = shift(images, 2, np.random.default_rng(0)).reshape(-1, 28, 28)
    assert (moved.sum(axis=(1, 2)) == 4).all()  # nothing falls off
    for one in moved:
        rows, cols = np.nonzero(one)
        assert rows.min() - 10 in range(-2, 3) and set(cols - 12) <= set(range(-2, 3)) and len(set(cols)) == 1
    assert len({one.tobytes() for one in moved}) > 10  # the moves differ from image to image
    assert np.array_equal(shift(images, 0, np.random.default_rng(0)), images)


def test_the_generative_classifier_changes_nothing_of_earlier_digits(toy_split: Split, results: dict) -> None:
    from mnist_transfer.strategies import load

    ppca = load("ppca", PARAMS["ppca"], SCENARIO, seed=0)
    tasks = make_tasks(FIVE_TASKS, toy_split)
    ppca.learn(tasks[0], (0, 1))
    first = {digit: [np.copy(part) for part in ppca.models[digit, digit]] for digit in (0, 1)}
    for task in tasks[1:]:
        ppca.learn(task, ())
    for digit, parts in first.items():
        for before, after in zip(parts, ppca.models[digit, digit], strict=True):
            np.testing.assert_array_equal(before, after)
    assert results["ppca"]["accuracy"] > 0.95


def test_deskew_straightens_a_slanted_stroke_and_keeps_an_upright_one() -> None:
    from mnist_transfer.pixels import deskew

    upright = np.zeros((28, 28))
    upright[4:24, 13:15] = 1.0
    slanted = np.zeros((28, 28))
    for row in range(4, 24):
        slanted[row, 8 + row // 2 : 10 + row // 2] = 1.0
    straight, same = deskew(np.stack([slanted, upright]))
    column_spread = lambda image: np.std(np.nonzero(image > 0.5)[1])  # noqa: E731
    assert column_spread(straight) < 0.5 * column_spread(slanted)
    assert abs(column_spread(same) - column_spread(upright)) < 0.6


def test_once_converts_each_array_once_and_tells_equal_arrays_apart() -> None:
    from mnist_transfer.pixels import Once

    calls = []

    def double(images: np.ndarray) -> np.ndarray:
        calls.append(len(images))
        return images * 2

    once = Once(double)
    images = np.arange(6).reshape(2, 3)
    first, again = once(images), once(images)
    assert again is first and calls == [2]
    assert np.array_equal(once(images.copy()), first) and calls == [2, 2]  # another array: converted anew


def test_a_ppca_with_more_directions_than_its_images_span_is_refused() -> None:
    """Images that vary along 3 directions leave no noise variance for 3 components: one line, the key named."""
    from mnist_transfer.errors import ParamsError
    from mnist_transfer.pca import fit_ppca

    rng = np.random.default_rng(0)
    images = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 784))
    assert fit_ppca(images, 2, "strategies.ppca.components", 7)[3] > 0  # the third direction is the noise
    with pytest.raises(ParamsError) as raised:
        fit_ppca(images, 3, "strategies.ppca.components", 7)
    assert str(raised.value) == (
        "strategies.ppca.components = 3: the 50 training images of digit 7 span only 3 directions, "
        "which leaves no variance for the PPCA's noise; set it to at most 2"
    )


def test_deskewed_flat_in_chunks_is_deskew_image_by_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunks only bound memory: every image comes out as it does alone, to the bit, in either dtype."""
    from mnist_transfer import pixels

    images = np.random.default_rng(3).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    alone = np.stack([pixels.deskew(image[None] / 255.0)[0].reshape(-1) for image in images])
    monkeypatch.setattr(pixels, "DESKEW_CHUNK", 3)  # chunks of 3, 3 and 1
    np.testing.assert_array_equal(pixels.deskewed_flat(images), alone)
    float32 = pixels.deskewed_flat(images, "float32")
    assert float32.dtype == np.float32
    np.testing.assert_array_equal(float32, alone.astype("float32"))


# -- the reference protocol's switches, each pinned to the reference's rule --


@pytest.mark.parametrize("seed", [1, 2, 7, 21])
def test_a_seeded_task_order_is_the_references_draw(seed: int) -> None:
    """GMvandeVen/continual-learning: np.random.seed(seed), p = np.random.permutation(10), digit d takes label p[d],
    and task k the digits whose labels are 2k and 2k + 1, in that order."""
    from mnist_transfer.scenarios import task_order

    np.random.seed(seed)
    labels = np.random.permutation(10)
    expected = [
        [int(np.flatnonzero(labels == 2 * k)[0]), int(np.flatnonzero(labels == 2 * k + 1)[0])] for k in range(5)
    ]
    assert task_order(FIVE_TASKS, "seeded", seed) == expected
    assert sorted(d for task in expected for d in task) == list(range(10))


def test_seed_zero_and_a_fixed_order_keep_the_tasks_as_written() -> None:
    from mnist_transfer.scenarios import task_order

    tasks = [[3, 1, 4], [5, 9, 2]]
    assert task_order(tasks, "seeded", 0) == tasks  # the reference's exception for seed 0
    assert task_order(tasks, "fixed", 5) == tasks
    drawn = task_order(tasks, "seeded", 5)
    assert [len(t) for t in drawn] == [3, 3] and sorted(drawn[0] + drawn[1]) == [1, 2, 3, 4, 5, 9]
    assert drawn != tasks


def test_domain_incremental_tasks_share_their_labels_and_keep_their_digits(toy_split: Split) -> None:
    tasks = make_tasks([[7, 2], [3, 8]], toy_split, "domain")
    assert [(t.digits, t.classes) for t in tasks] == [((7, 2), (0, 1)), ((3, 8), (0, 1))]
    first = tasks[0]
    assert set(first.y_train.tolist()) == {0, 1}
    assert np.array_equal(first.digit_of(first.y_test), np.where(first.y_test == 0, 7, 2))
    assert np.sum(first.y_train == 0) == np.sum(toy_split.y_train == 7)


def test_a_domain_incremental_network_has_one_output_per_place_in_a_task(toy_split: Split) -> None:
    from mnist_transfer.strategies import load

    scenario = {**SCENARIO, "incremental": "domain", "iterations": 5}
    strategy = load("finetune", {}, scenario, seed=0)
    assert strategy.network.output_shape[-1] == 2
    result = run(strategy, make_tasks(FIVE_TASKS, toy_split, "domain"), "domain")
    assert sorted(result["per_class_accuracy"]) == [str(d) for d in range(10)]  # per digit, not per output


@pytest.mark.parametrize(
    ("incremental", "active", "expected"),
    [
        ("class", "all", tuple(range(10))),  # the reference's current default: every output
        ("class", "seen", (0, 1, 2, 3)),  # its 2019 rule: the digits seen so far
        ("task", "all", (2, 3)),  # told the task: its own digits, whatever active_outputs says
        ("domain", "seen", (0, 1)),  # the two shared outputs
    ],
)
def test_the_softmax_in_training_covers_the_references_outputs(
    toy_split: Split, incremental: str, active: str, expected: tuple
) -> None:
    from mnist_transfer.strategies import load

    scenario = {**SCENARIO, "incremental": incremental, "active_outputs": active}
    strategy = load("finetune", {}, scenario, seed=0)
    task = make_tasks(FIVE_TASKS, toy_split, incremental)[1]
    seen = (0, 1) if incremental == "domain" else (0, 1, 2, 3)
    assert strategy.training_classes(task, seen) == expected


@pytest.mark.parametrize("active", ["all", "seen"])
def test_only_active_outputs_learn(toy_split: Split, active: str) -> None:
    """Outputs outside the softmax get no gradient: Adam leaves their weights exactly as they were."""
    from mnist_transfer import training
    from mnist_transfer.strategies import load

    training.seed_everything(0)
    strategy = load("finetune", {}, {**SCENARIO, "active_outputs": active, "iterations": 5}, seed=0)
    kernel, bias = strategy.network.get_layer("logits").get_weights()
    first = make_tasks(FIVE_TASKS, toy_split)[0]
    strategy.learn(first, first.classes)
    after, after_bias = strategy.network.get_layer("logits").get_weights()
    unseen_unchanged = np.array_equal(kernel[:, 2:], after[:, 2:]) and np.array_equal(bias[2:], after_bias[2:])
    assert unseen_unchanged == (active == "seen")
    assert not np.array_equal(kernel[:, :2], after[:, :2])


@pytest.mark.parametrize(
    ("weighting", "incremental", "t", "expected"),
    [
        ("current", "class", 3, (1.0, 1.0)),  # models/classifier.py: loss_cur + loss_replay
        ("current", "task", 3, (1.0, 2.0)),  # ... with loss_replay *= (context - 1) outside class-incremental
        ("current", "domain", 4, (1.0, 3.0)),
        ("2019", "class", 4, (0.25, 0.75)),  # the 2019 code: rnt = 1/t
    ],
)
def test_lwf_weights_its_losses_by_the_references_rule(weighting: str, incremental: str, t: int, expected) -> None:
    from mnist_transfer.strategies import load

    strategy = load("lwf", {"temperature": 2.0, "weighting": weighting}, {**SCENARIO, "incremental": incremental}, 0)
    assert strategy.loss_weights(t) == expected


@pytest.mark.parametrize("weighting", ["current", "2019"])
def test_lwf_distils_as_the_references_loss_fn_kd(toy_split: Split, weighting: str) -> None:
    """-sum over outputs of softmax(previous / T) log_softmax(new / T), averaged over the batch, the new digits'
    targets 0; scaled by T^2 under the 2019 rule only."""
    from mnist_transfer.quiet_tf import tf
    from mnist_transfer.strategies import load

    temperature = 2.0
    strategy = load("lwf", {"temperature": temperature, "weighting": weighting}, SCENARIO, seed=0)
    tasks = make_tasks(FIVE_TASKS, toy_split)
    strategy.allowed = strategy.mask((0, 1))
    strategy.after_task(tasks[0], (0, 1))  # the network as it is now is the previous one
    x = strategy.pixels(tasks[1].x_train[:7])
    previous = strategy.previous(x).numpy().astype(np.float64)
    new = previous + np.random.default_rng(0).normal(size=previous.shape)
    allowed = strategy.mask((0, 1, 2, 3))
    got = strategy.kept_loss(tf.constant(x), tf.constant(new, dtype="float32"), tf.constant(allowed)).numpy()

    def log_softmax(z: np.ndarray) -> np.ndarray:
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    target = np.exp(log_softmax(previous[:, :2] / temperature))  # the previous task's outputs
    kd = -(target * log_softmax(new[:, :4] / temperature)[:, :2]).sum(axis=1).mean()
    expected = kd * temperature**2 if weighting == "2019" else kd
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.parametrize("rule", ["current", "2019"])
def test_the_ewc_fisher_follows_the_references_rule(toy_split: Split, rule: str) -> None:
    """current: mean over images of sum over the active classes of p(c) (d log p(c))^2; 2019: of the predicted class's
    (d log p)^2 alone. Both over every training image when fisher_samples is null."""
    from mnist_transfer import models
    from mnist_transfer.quiet_tf import keras, tf
    from mnist_transfer.strategies import ewc
    from mnist_transfer.strategies.network import masked_logits

    def tiny(outputs: int = 10) -> keras.Model:
        inputs = keras.Input((28 * 28,))
        hidden = keras.layers.Dense(6, activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Dense(outputs)(hidden))

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(models.NETWORKS, "tiny", tiny)
        strategy = ewc.Strategy(
            {"strength": 1.0, "fisher": rule, "fisher_samples": None}, {**SCENARIO, "network": "tiny"}, 0
        )
    task = make_tasks(FIVE_TASKS, toy_split)[1]
    task = dataclasses.replace(task, x_train=task.x_train[:9], y_train=task.y_train[:9])
    strategy.allowed = strategy.mask((0, 1, 2, 3))
    strategy.after_task(task, (0, 1, 2, 3))
    fisher = [f.numpy() for f in strategy.terms[0][0]]
    network, variables = strategy.network, strategy.network.trainable_variables
    expected = [np.zeros(v.shape) for v in variables]
    for image in task.x_train.reshape(9, -1).astype("float32") / 255.0:
        log_p = tf.nn.log_softmax(masked_logits(network(image[None]), strategy.allowed))[0].numpy()
        weights = {int(np.argmax(log_p)): 1.0} if rule == "2019" else {c: np.exp(log_p[c]) for c in range(4)}
        for c, weight in weights.items():
            with tf.GradientTape() as tape:
                picked = tf.nn.log_softmax(masked_logits(network(image[None]), strategy.allowed))[0][c]
            for total, g in zip(expected, tape.gradient(picked, variables), strict=True):
                total += weight * g.numpy().astype(np.float64) ** 2 / 9
    for got, want in zip(fisher, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7 * np.abs(want).max())


@pytest.mark.parametrize("incremental", ["task", "class"])
def test_replayed_images_are_masked_by_their_own_task_only_when_told_the_task(
    toy_split: Split, incremental: str
) -> None:
    from mnist_transfer.strategies import load

    scenario = {**SCENARIO, "incremental": incremental, "iterations": 2}
    strategy = load("replay", PARAMS["replay"], scenario, seed=0)
    tasks = make_tasks(FIVE_TASKS, toy_split, incremental)
    seen: tuple[int, ...] = ()
    for task in tasks[:3]:
        seen += task.classes
        strategy.learn(task, seen)
    _, labels, masks = strategy.replay_batch()
    for label, mask in zip(labels, masks, strict=True):
        own = (label // 2 * 2, label // 2 * 2 + 1)  # the digits of its task
        expected = strategy.mask(own) if incremental == "task" else strategy.allowed
        np.testing.assert_array_equal(mask, expected)
    assert len(set(labels.tolist())) > 2  # images of more than one task


def test_joint_told_the_task_masks_each_image_by_its_own_task(toy_split: Split) -> None:
    from mnist_transfer.strategies import load

    joint = load("joint", {}, {**SCENARIO, "incremental": "task"}, seed=0)
    tasks = make_tasks(FIVE_TASKS, toy_split, "task")
    joint.training_images(tasks[0])
    _, y = joint.training_images(tasks[1])
    masks = joint.training_masks(tasks[1])
    assert masks.shape == (len(y), 10)
    for label, mask in zip(y, masks, strict=True):
        np.testing.assert_array_equal(mask, joint.mask((label // 2 * 2, label // 2 * 2 + 1)))
    assert load("joint", {}, SCENARIO, seed=0).training_masks(tasks[1]) is None  # class-incremental: one mask


def test_lwf_told_the_task_distils_each_earlier_head_over_its_own_outputs(toy_split: Split) -> None:
    """Task-incremental: one term per earlier task, each over that task's outputs on both sides, averaged."""
    from mnist_transfer.quiet_tf import tf
    from mnist_transfer.strategies import load

    temperature = 2.0
    scenario = {**SCENARIO, "incremental": "task"}
    strategy = load("lwf", {"temperature": temperature, "weighting": "current"}, scenario, seed=0)
    tasks = make_tasks(FIVE_TASKS, toy_split, "task")
    for task in tasks[:2]:
        strategy.allowed = strategy.mask(task.classes)
        strategy.after_task(task, ())
    x = strategy.pixels(tasks[2].x_train[:5])
    previous = strategy.previous(x).numpy().astype(np.float64)
    new = previous + np.random.default_rng(1).normal(size=previous.shape)
    allowed = strategy.mask(tasks[2].classes)
    got = strategy.kept_loss(tf.constant(x), tf.constant(new, dtype="float32"), tf.constant(allowed)).numpy()

    def kd(columns: list[int]) -> float:
        def log_softmax(z: np.ndarray) -> np.ndarray:
            z = z - z.max(axis=1, keepdims=True)
            return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

        target = np.exp(log_softmax(previous[:, columns] / temperature))
        return float(-(target * log_softmax(new[:, columns] / temperature)).sum(axis=1).mean())

    np.testing.assert_allclose(got, (kd([0, 1]) + kd([2, 3])) / 2, rtol=1e-5)
    assert strategy.loss_weights(3) == (1.0, 2.0)  # the mean over two heads, times t - 1: their sum
