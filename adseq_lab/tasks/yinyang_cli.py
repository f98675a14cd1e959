"""``adseq-lab yinyang``: train a time-to-first-spike network with learned delays on Yin-Yang.

Prints a progress bar, one line per epoch (validation accuracy), the final test accuracy of the
parameters with the best validation accuracy, and with ``--json`` a last line of JSON
(``test_accuracy``, ``epochs``, ``seconds``, ``learned_delays`` and more). ``--compare`` trains
twice, with and without delay learning, and reports both.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from .yinyang import YinYangConfig, YinYangResult

DEFAULTS = YinYangConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument(
        "--learn-delays",
        action=argparse.BooleanOptionalAction,
        default=DEFAULTS.learn_delays,
        help="learn the delays as well as the weights (default: yes)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="train with and without delay learning (same seed) and report both",
    )
    parser.add_argument(
        "--queue",
        default=DEFAULTS.queue,
        help="delay machinery of the hidden->output synapses: 'history:K' (per-neuron spike "
        "history, K slots) or a queue kind per synapse, e.g. 'fifo_ring:2', 'sorted_array:4', "
        "'ring' (default %(default)s)",
    )
    parser.add_argument("--hidden", type=int, default=DEFAULTS.hidden, help="hidden neurons")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--train-size", type=int, default=DEFAULTS.train_size)
    parser.add_argument("--validation-size", type=int, default=DEFAULTS.validation_size)
    parser.add_argument("--test-size", type=int, default=DEFAULTS.test_size)
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate)
    parser.add_argument("--delay-learning-rate", type=float, default=DEFAULTS.delay_learning_rate)
    parser.add_argument("--max-delay-ms", type=float, default=DEFAULTS.max_delay_ms)
    parser.add_argument("--save", metavar="PATH", help="write the learned parameters (.npz)")
    parser.add_argument("--json", action="store_true", help="print a last line of JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or epoch lines")


def config_from(args: argparse.Namespace, learn_delays: bool | None = None) -> YinYangConfig:
    return dataclasses.replace(
        DEFAULTS,
        epochs=args.epochs,
        seed=args.seed,
        learn_delays=args.learn_delays if learn_delays is None else learn_delays,
        queue=args.queue,
        hidden=args.hidden,
        batch_size=args.batch_size,
        train_size=args.train_size,
        validation_size=args.validation_size,
        test_size=args.test_size,
        learning_rate=args.learning_rate,
        delay_learning_rate=args.delay_learning_rate,
        max_delay_ms=args.max_delay_ms,
    )


def _train(config: YinYangConfig, quiet: bool) -> YinYangResult:
    from .yinyang import train_yinyang

    def report(record, params):
        if not quiet:
            print(
                f"epoch {record['epoch']:3d}  loss {record['loss']:.4f}  "
                f"validation {100 * record['validation_accuracy']:.1f}%  "
                f"({record['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    return train_yinyang(config, progress=not quiet, epoch_callback=report)


def run(args: argparse.Namespace) -> int:
    try:
        configs = (
            [config_from(args, True), config_from(args, False)]
            if args.compare
            else [config_from(args)]
        )
    except ValueError as error:
        raise SystemExit(f"adseq-lab yinyang: {error}") from None
    summaries = []
    for config in configs:
        result = _train(config, args.quiet)
        label = "with" if config.learn_delays else "without"
        print(
            f"test accuracy {100 * result.test_accuracy:.2f}% ({label} delay learning; "
            f"best validation {100 * result.validation_accuracy:.2f}% at epoch "
            f"{result.best_epoch}; {result.epochs} epochs in {result.seconds:.0f} s)",
            flush=True,
        )
        if args.save:
            from ..train.checkpoint import save_checkpoint

            path = args.save if len(configs) == 1 else args.save.replace(".npz", f"_{label}.npz")
            save_checkpoint(path, result.params, result.summary())
        summaries.append(result.summary())
    if args.json:
        payload = summaries[0] if len(summaries) == 1 else {**summaries[0], "runs": summaries}
        if len(summaries) == 2:
            payload["test_accuracy_without_delay_learning"] = summaries[1]["test_accuracy"]
        print(json.dumps(payload))
    return 0
