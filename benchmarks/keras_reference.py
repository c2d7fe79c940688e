"""Training speed of the report's own stack (Keras 3 on TensorFlow) against digitlab, in one run.

For each of the report's three models, Keras trains the model as the report built it
(the layers of the preset's spec with Keras' own layers and initializers, the recipe's
optimizer, learning rate, loss and batch size, no augmentation, `model.fit` with its
defaults), then digitlab's trainer trains the same recipe, on the same images: a
stratified subset of digitlab's training split, from its MNIST cache. Each side runs two
epochs and the second is timed (the first builds graphs and kernels). With --repeats N the
pairs are run N times, interleaved, and the figures are medians; the ratio is the median
of the ratios of each pair, so slow stretches of a shared machine hit both sides alike.
The last line is the ratios.

digitlab trains with freed memory kept in the process (`digitlab.allocator`, as `train` does on
the CPU). The setting is process-wide, so it is turned on before either side runs and both
frameworks run under it; --plain-malloc leaves glibc's defaults to both.

TensorFlow is an optional extra, never needed by `make run` or `make test`:

    pip install -e '.[keras]'
    python benchmarks/keras_reference.py [--images 20000] [--repeats 3] [--models report-ann ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from digitlab.allocator import keep_freed_memory
from digitlab.device import resolve_precision
from digitlab.models import resolve_model
from digitlab.models.spec import parse_spec
from digitlab.training import Trainer, recipe
from digitlab.runs.split import make_split

MODELS = ("report-ann", "report-cnn-first", "report-cnn-final")

# Keras class names of digitlab's optimizer names (the report's models all use Adam).
KERAS_OPTIMIZERS = {"adam": "Adam", "rmsprop": "RMSprop", "nadam": "Nadam", "sgd": "SGD",
                    "adadelta": "Adadelta", "adagrad": "Adagrad"}


def keras_layer_plan(spec: str) -> list[tuple[str, dict]]:
    """The Keras layers (class name, arguments) of a spec, in order. An activation right after
    a Dense or Conv2D goes into that layer's `activation`, as a Keras user writes it (and as
    Keras runs it fastest); every other token is its own layer. Initializers are Keras'
    defaults (Glorot-uniform, zero bias) except 'U' dense layers, the report's 'uniform'."""
    plan: list[tuple[str, dict]] = []
    for layer in parse_spec(spec):
        a = layer.args
        if layer.kind == "conv":
            plan.append(("Conv2D", {"filters": a["filters"], "kernel_size": a["kernel"], "strides": a["stride"],
                                    "padding": a["padding"]}))
        elif layer.kind == "dense":
            plan.append(("Dense", {"units": a["units"],
                                   "kernel_initializer": "uniform" if a["init"] == "uniform" else "glorot_uniform"}))
        elif layer.kind == "maxpool":
            plan.append(("MaxPooling2D", {"pool_size": a["size"]}))
        elif layer.kind == "avgpool":
            plan.append(("AveragePooling2D", {"pool_size": a["size"]}))
        elif layer.kind == "gap":
            plan.append(("GlobalAveragePooling2D", {}))
        elif layer.kind == "flatten":
            plan.append(("Flatten", {}))
        elif layer.kind == "dropout":
            plan.append(("Dropout", {"rate": a["p"]}))
        elif layer.kind == "batchnorm":
            plan.append(("BatchNormalization", {"momentum": a["momentum"], "epsilon": 1e-3}))
        elif a["fn"] == "leaky_relu":
            plan.append(("LeakyReLU", {"negative_slope": a["slope"]}))
        elif plan and plan[-1][0] in ("Dense", "Conv2D") and "activation" not in plan[-1][1]:
            plan[-1][1]["activation"] = a["fn"]
        else:
            plan.append(("Activation", {"activation": a["fn"]}))
    return plan


def import_keras():
    """TensorFlow's Keras, imported only when this benchmark runs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up notices off the table
    try:
        import keras
        import tensorflow as tf
    except ImportError:
        sys.exit("this benchmark needs TensorFlow and Keras: pip install -e '.[keras]'")
    return tf, keras


def keras_model(keras, spec: str, cfg):
    model = keras.Sequential([keras.Input((28, 28, 1))]
                             + [getattr(keras.layers, name)(**args) for name, args in keras_layer_plan(spec)])
    lr = cfg.lr if cfg.lr is not None else 1e-3
    optimizer = getattr(keras.optimizers, KERAS_OPTIMIZERS[cfg.optimizer])(learning_rate=lr)
    model.compile(optimizer=optimizer, loss=cfg.loss, metrics=["accuracy"])
    return model


def digitlab_parameter_count(spec: str) -> int:
    """Weights plus batch-norm moving statistics: what Keras' count_params() counts."""
    model = resolve_model(spec).build()
    stats = sum(b.numel() for name, b in model.named_buffers() if name.endswith(("running_mean", "running_var")))
    return sum(p.numel() for p in model.parameters()) + stats


def keras_speed(keras, name: str, cfg, x: np.ndarray, y: np.ndarray) -> float:
    """Images/second of the second of two `model.fit` epochs."""
    spec = resolve_model(name)
    keras.utils.set_random_seed(cfg.seed)
    model = keras_model(keras, spec.spec, cfg)
    if model.count_params() != digitlab_parameter_count(name):
        raise SystemExit(f"{name}: the Keras model has {model.count_params()} parameters, digitlab's "
                         f"{digitlab_parameter_count(name)}; the two are not the same model")
    seconds: list[float] = []

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.t0)

    if cfg.loss != "sparse_categorical_crossentropy":
        y = np.eye(10, dtype=np.float32)[y]
    model.fit(x, y, batch_size=cfg.batch_size, epochs=2, shuffle=True, verbose=0, callbacks=[EpochTimer()])
    return len(x) / seconds[1]


def digitlab_speed(cfg) -> float:
    """Images/second of the second of two epochs of digitlab's trainer (validation not timed)."""
    history = Trainer(cfg, None, progress=False, log=lambda s: None).fit().history
    return history[1]["samples_per_second"]


def benchmark_config(name: str, images: int):
    """The model's recipe on `images` training images for two epochs, without augmentation."""
    cfg = recipe(name, subset=images, epochs=2)
    if cfg.schedule != "constant":
        raise SystemExit(f"{name}: this benchmark reproduces constant learning rates only")
    return replace(cfg, augment=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20000, help="training images per epoch (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="Keras/digitlab pairs per model (default 3)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS,
                        help="which of the report's models (default all three)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both frameworks (default: each framework's own default)")
    parser.add_argument("--plain-malloc", action="store_true",
                        help="leave glibc's malloc settings as they are for both sides (default: keep freed memory, "
                             "as digitlab's training does)")
    args = parser.parse_args()

    kept = False if args.plain_malloc else keep_freed_memory()
    tf, keras = import_keras()
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    configs = {name: benchmark_config(name, args.images) for name in args.models}
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}; TensorFlow threads: intra-op "
          f"{tf.config.threading.get_intra_op_parallelism_threads()}, inter-op "
          f"{tf.config.threading.get_inter_op_parallelism_threads()} (0: its default, one per core); "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; {os.cpu_count()} cores; "
          f"freed memory {'kept in the process for both' if kept else 'returned as glibc decides, both sides'}")
    precisions = {resolve_precision(cfg.precision, torch.device("cpu")) for cfg in configs.values()}
    print(f"Keras in float32 (its default); digitlab in {', '.join(sorted(precisions))} (its recipes' precision)")
    print(f"{args.images} images, batch sizes of the report, no augmentation, second epoch of two timed; "
          f"{args.repeats} Keras/digitlab pair(s) per model, medians")
    ratios = {}
    for name, cfg in configs.items():
        split = make_split(cfg, torch.device("cpu"))
        spec = resolve_model(name)
        # Keras gets the input normalization done beforehand, as the report did; digitlab does it in the model
        x = (split.x_train.permute(0, 2, 3, 1).numpy().astype(np.float32) * spec.scale + spec.shift)
        y = split.y_train.numpy()
        pairs = []
        for _ in range(args.repeats):
            pairs.append((keras_speed(keras, name, cfg, x, y), digitlab_speed(cfg)))
        k, d = (statistics.median(side) for side in zip(*pairs))
        ratios[name] = statistics.median(dl / ke for ke, dl in pairs)
        print(f"{name:<17} batch {cfg.batch_size:3d}  keras {k:7.0f}/s  digitlab {d:7.0f}/s  "
              f"ratio {ratios[name]:.2f}  (pairs: {', '.join(f'{ke:.0f}/{dl:.0f}' for ke, dl in pairs)})")
    # other work on the machine slows both sides, but not equally: say how busy it was
    print(f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores")
    print("ratios (digitlab/keras): " + ", ".join(f"{name} {r:.2f}" for name, r in ratios.items()))


if __name__ == "__main__":
    main()
