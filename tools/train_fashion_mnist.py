#!/usr/bin/python3
"""Train edgeq's small Fashion-MNIST test models and export them to ONNX.

Run with Debian's python (the pyenv `python3` on PATH cannot see Debian's
packages). One-time setup on Debian 12:

    apt-get install -y python3-torch libopenblas0-pthread \
        dataset-fashion-mnist python3-numpy python3-onnx

Typical uses:

    # train both models, export them, write the test-data slices, and check
    # the exported graphs with ONNX Runtime (tests/ort, needs `npm ci` there)
    /usr/bin/python3 tools/train_fashion_mnist.py --ort-check

    # train one model only
    /usr/bin/python3 tools/train_fashion_mnist.py --model cnn

    # no training: rebuild the full normalized test set (10000 images)
    /usr/bin/python3 tools/train_fashion_mnist.py --export-test-set /tmp/fmnist_test.npz

    # no training: top-1 of the committed .onnx files with ONNX Runtime
    /usr/bin/python3 tools/train_fashion_mnist.py --ort-eval

Outputs (in --out-dir, default models/):
  fmnist_cnn.onnx                 MobileNet-style CNN, opset 17
  fmnist_transformer.onnx         2-layer patch transformer, opset 17
  data/fmnist_test_1000.npz       "image" float32 [1000,1,28,28], "label" int64 [1000]
  data/fmnist_test_labels.npy     int64 [10000], every test label

Both models take "image" float32 [N,1,28,28] and return "logits" float32
[N,10]. Pixels are normalized as (u8 / 255 - MEAN) / STD in float32 with the
constants below (see normalize()).

Training is deterministic: fixed seeds, torch.use_deterministic_algorithms,
and a fixed thread count (--threads, default 1). Results can still differ in
the last bits between machines or BLAS builds.
"""

import argparse
import gzip
import os
import struct
import subprocess
import sys
import tempfile
import time

# OpenBLAS (which numpy and Debian's torch load) starts its own pthreads, which
# torch.set_num_threads does not govern and which spin on a busy machine: keep
# it to one thread unless the caller says otherwise. Must precede the imports.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
REPO_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
ORT_RUN = os.path.join(REPO_DIR, "tests", "ort", "run.mjs")

# Mean and standard deviation of the 60000 training images' pixels in [0, 1]
# (0.28604, 0.35302), rounded to 4 places.
MEAN = 0.2860
STD = 0.3530

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

OPSET = 17
SEED = 20240613


# --------------------------------------------------------------------------
# Data


def read_idx(path):
    """Read a gzip'd IDX file (unsigned-byte data) into a numpy uint8 array."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count:
        raise ValueError(f"{path}: expected {count} data bytes, found {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def load_split(data_dir, split):
    """Return (images uint8 [N,28,28], labels int64 [N]) of 'train' or 't10k'."""
    images = read_idx(os.path.join(data_dir, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{split}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f"{data_dir}: {split} images {images.shape} do not match labels {labels.shape}")
    return images, labels.astype(np.int64)


def normalize(images_u8):
    """uint8 [N,28,28] -> float32 [N,1,28,28], (x / 255 - MEAN) / STD in float32."""
    x = images_u8.astype(np.float32) / np.float32(255.0)
    x = (x - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x[:, None, :, :], dtype=np.float32)


def save_test_set(path, images, labels):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, image=normalize(images), label=labels.astype(np.int64))
    print(f"wrote {path}: image float32 [{len(labels)},1,28,28], label int64 [{len(labels)}], "
          f"{os.path.getsize(path)} bytes")


# --------------------------------------------------------------------------
# Models (torch is imported lazily so data-only commands do not need it)


def build_cnn(nn):
    """MobileNet-style CNN: stem conv, 4 depthwise-separable blocks, GAP, linear."""

    def conv_bn_relu(cin, cout, k, stride, groups=1):
        return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True)]

    def separable(cin, cout, stride):
        # depthwise 3x3 (one filter per channel), then pointwise 1x1
        return conv_bn_relu(cin, cin, 3, stride, groups=cin) + conv_bn_relu(cin, cout, 1, 1)

    layers = []
    layers += conv_bn_relu(1, 16, 3, 2)      # [N,16,14,14]
    layers += separable(16, 32, 1)           # [N,32,14,14]
    layers += separable(32, 64, 2)           # [N,64,7,7]
    layers += separable(64, 128, 1)          # [N,128,7,7]
    layers += separable(128, 128, 1)         # [N,128,7,7]
    layers += [nn.AdaptiveAvgPool2d(1),      # [N,128,1,1]
               nn.Flatten(1),                # [N,128]
               nn.Linear(128, 10)]           # [N,10]
    return nn.Sequential(*layers)


def build_transformer(torch, nn):
    """Patch transformer: 7x7 patches -> 16 tokens of width 64, 2 pre-LN layers."""
    tokens, width, heads, ffn = 16, 64, 4, 128
    head_dim = width // heads

    class EncoderLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = nn.LayerNorm(width)
            self.q = nn.Linear(width, width)
            self.k = nn.Linear(width, width)
            self.v = nn.Linear(width, width)
            self.out = nn.Linear(width, width)
            self.norm2 = nn.LayerNorm(width)
            self.fc1 = nn.Linear(width, ffn)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(ffn, width)
            self.scale = 1.0 / float(head_dim) ** 0.5

        def split_heads(self, t):
            # [N,T,D] -> [N,H,T,Dh]; -1 keeps the batch dimension dynamic
            return t.reshape(-1, tokens, heads, head_dim).transpose(1, 2)

        def forward(self, x):
            y = self.norm1(x)
            q = self.split_heads(self.q(y))
            k = self.split_heads(self.k(y))
            v = self.split_heads(self.v(y))
            att = torch.softmax(torch.matmul(q, k.transpose(2, 3)) * self.scale, dim=-1)
            y = torch.matmul(att, v).transpose(1, 2).reshape(-1, tokens, width)
            x = x + self.out(y)
            x = x + self.fc2(self.act(self.fc1(self.norm2(x))))
            return x

    class PatchTransformer(nn.Module):
        def __init__(self):
            super().__init__()
            self.patch = nn.Conv2d(1, width, kernel_size=7, stride=7)   # [N,64,4,4]
            self.pos = nn.Parameter(torch.zeros(1, tokens, width))
            self.layers = nn.ModuleList([EncoderLayer() for _ in range(2)])
            self.norm = nn.LayerNorm(width)
            self.head = nn.Linear(width, 10)
            nn.init.normal_(self.pos, std=0.02)

        def forward(self, image):
            x = self.patch(image).reshape(-1, width, tokens).transpose(1, 2)  # [N,16,64]
            x = x + self.pos
            for layer in self.layers:
                x = layer(x)
            x = self.norm(x).mean(dim=1)                                        # [N,64]
            return self.head(x)

    return PatchTransformer()


# Training settings and ONNX doc string of each model (AdamW when weight_decay > 0).
MODELS = {
    "cnn": dict(epochs=5, lr=3e-3, weight_decay=0.0, batch=128,
                doc="MobileNet-style CNN (stem conv + 4 depthwise-separable blocks, "
                    "global average pool, linear) trained on Fashion-MNIST"),
    "transformer": dict(epochs=10, lr=2e-3, weight_decay=0.05, batch=128,
                        doc="Patch transformer (7x7 patches, 16 tokens, d_model 64, 4 heads, "
                            "FFN 128, 2 pre-LN encoder layers, mean pool, linear) trained "
                            "on Fashion-MNIST"),
}


def make_model(torch, name):
    nn = torch.nn
    if name == "cnn":
        return build_cnn(nn)
    if name == "transformer":
        return build_transformer(torch, nn)
    raise ValueError(name)


# --------------------------------------------------------------------------
# Training and evaluation


def setup_torch(threads):
    import torch
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    cfg = torch.__config__.show()
    blas = [line.split()[-1] for line in open("/proc/self/maps") if "libopenblas" in line]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"BLAS loaded: {os.path.basename(blas[0]) if blas else 'no OpenBLAS mapped'}")
    if "BLAS_INFO" in cfg:
        info = cfg.split("BLAS_INFO=")[1].split(",")[0]
        print(f"  torch BLAS_INFO={info} (Debian's torch links libblas.so.3, which the "
              f"alternatives system points at OpenBLAS)")
    return torch


def predict(torch, model, x, batch=1000):
    """Logits of float32 numpy x [N,1,28,28] in eval mode, as numpy."""
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out.append(model(torch.from_numpy(x[i:i + batch])).numpy())
    return np.concatenate(out)


def train(torch, name, x_train, y_train, x_test, y_test, epochs):
    cfg = MODELS[name]
    torch.manual_seed(SEED)
    model = make_model(torch, name)
    n_params = sum(p.numel() for p in model.parameters())
    opt_name = "AdamW" if cfg["weight_decay"] > 0 else "Adam"
    print(f"\n== {name}: {n_params} parameters, {epochs} epochs, {opt_name} lr {cfg['lr']}, "
          f"weight decay {cfg['weight_decay']}, batch {cfg['batch']}")

    xt = torch.from_numpy(x_train)
    yt = torch.from_numpy(y_train)
    batch = cfg["batch"]
    steps_per_epoch = (len(xt) + batch - 1) // batch
    total = steps_per_epoch * epochs
    warmup = steps_per_epoch // 2
    if cfg["weight_decay"] > 0:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])

    def lr_at(step):
        # linear warm-up over half an epoch, then cosine decay to zero
        if step < warmup:
            return (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + np.cos(np.pi * t))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(SEED + 1)
    loss_fn = torch.nn.CrossEntropyLoss()
    t0 = time.process_time()
    w0 = time.time()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        # random horizontal flip of half the images (clothes are left-right symmetric)
        flip = torch.rand(len(xt), generator=gen) < 0.5
        seen, loss_sum, correct = 0, 0.0, 0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            xb = xt[idx]
            fb = flip[idx]
            xb = torch.where(fb[:, None, None, None], xb.flip(3), xb)
            yb = yt[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += float(loss) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
        acc = (predict(torch, model, x_test).argmax(1) == y_test).mean()
        print(f"  epoch {epoch + 1}/{epochs}: train loss {loss_sum / seen:.4f}, "
              f"train top-1 {100 * correct / seen:.2f} %, test top-1 {100 * acc:.2f} %, "
              f"{time.time() - w0:.0f} s wall, {time.process_time() - t0:.0f} s CPU")
    model.eval()
    return model, time.time() - w0, time.process_time() - t0


def export_onnx(torch, model, name, path, test_top1, train_info):
    import onnx
    model.eval()
    dummy = torch.zeros(2, 1, 28, 28)
    if name == "cnn":
        # Keep the BatchNormalization nodes (inference form: running mean/var,
        # training_mode=0, one output) instead of letting the exporter fold
        # each one into the Conv before it. PRESERVE exports the module's
        # current mode, which is eval() here; constant folding off keeps the
        # BN parameters as separate initializers.
        export_kw = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    else:
        export_kw = dict(do_constant_folding=True)
    torch.onnx.export(model, dummy, path, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "N"}, "logits": {0: "N"}},
                      opset_version=OPSET, **export_kw)
    m = onnx.load(path)
    m.doc_string = MODELS[name]["doc"] + "; made by tools/train_fashion_mnist.py"
    meta = {
        "dataset": "Fashion-MNIST (Debian package dataset-fashion-mnist)",
        "normalization": f"image = (pixel_u8 / 255 - {MEAN}) / {STD}, float32, layout [N,1,28,28]",
        "classes": ",".join(CLASS_NAMES),
        "test_top1_torch": f"{100 * test_top1:.2f}",
        "training": train_info,
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        entry = m.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, path)
    ops = {}
    for node in m.graph.node:
        ops[node.op_type] = ops.get(node.op_type, 0) + 1
    imports = ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in m.opset_import)
    print(f"wrote {path}: {os.path.getsize(path)} bytes, IR {m.ir_version}, opsets {imports}, "
          f"{len(m.graph.node)} nodes, {len(m.graph.initializer)} initializers")
    print("  ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
    return m


# --------------------------------------------------------------------------
# ONNX Runtime check (through tests/ort/run.mjs, so no Python ORT is needed)


def ort_logits(model_path, x, batch=1000, threads=1):
    if not os.path.exists(ORT_RUN):
        raise SystemExit(f"{ORT_RUN} not found")
    out = []
    with tempfile.TemporaryDirectory(prefix="fmnist_ort_") as tmp:
        for i in range(0, len(x), batch):
            inp = os.path.join(tmp, "image.npy")
            np.save(inp, np.ascontiguousarray(x[i:i + batch]))
            od = os.path.join(tmp, f"out{i}")
            subprocess.run(["node", ORT_RUN, "--model", model_path, "--input", f"image={inp}",
                            "--output-dir", od, "--threads", str(threads)],
                           check=True, stdout=subprocess.DEVNULL)
            out.append(np.load(os.path.join(od, "logits.npy")))
    return np.concatenate(out)


def ort_report(model_path, x_test, y_test, torch_logits=None):
    t = time.time()
    logits = ort_logits(model_path, x_test)
    acc = (logits.argmax(1) == y_test).mean()
    line = f"ORT {os.path.basename(model_path)}: test top-1 {100 * acc:.2f} % ({time.time() - t:.0f} s)"
    if torch_logits is not None:
        diff = np.abs(logits - torch_logits).max()
        agree = (logits.argmax(1) == torch_logits.argmax(1)).mean()
        line += f", max |ORT - torch| {diff:.2e}, argmax agreement {100 * agree:.2f} %"
    print(line)
    return acc


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR,
                    help=f"folder with the gzip'd IDX files (default {DEFAULT_DATA_DIR})")
    ap.add_argument("--out-dir", default=os.path.join(REPO_DIR, "models"))
    ap.add_argument("--model", choices=["cnn", "transformer", "all"], default="all")
    ap.add_argument("--epochs", type=int, help="override the model's epoch count")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on the shared 2-core machine, 2 OpenMP "
                         "threads ran 5-20x slower per step than 1)")
    ap.add_argument("--ort-check", action="store_true",
                    help="after export, run the .onnx over the test set with ONNX Runtime")
    ap.add_argument("--ort-eval", action="store_true",
                    help="no training: ORT top-1 of the .onnx files in --out-dir")
    ap.add_argument("--export-test-set", metavar="OUT.npz",
                    help="no training: write the normalized test set (key image, label) to OUT.npz")
    ap.add_argument("--count", type=int, default=10000,
                    help="with --export-test-set: the first COUNT test images (default all)")
    args = ap.parse_args()

    x_test_u8, y_test = load_split(args.data_dir, "t10k")
    names = ["cnn", "transformer"] if args.model == "all" else [args.model]

    if args.export_test_set:
        n = args.count
        save_test_set(args.export_test_set, x_test_u8[:n], y_test[:n])
        return 0

    x_test = normalize(x_test_u8)
    if args.ort_eval:
        for name in names:
            ort_report(os.path.join(args.out_dir, f"fmnist_{name}.onnx"), x_test, y_test)
        return 0

    x_train_u8, y_train = load_split(args.data_dir, "train")
    pixels = x_train_u8.astype(np.float64) / 255.0
    print(f"train {x_train_u8.shape}, test {x_test_u8.shape}; train pixel mean {pixels.mean():.5f}, "
          f"std {pixels.std():.5f} (normalizing with {MEAN}, {STD})")
    del pixels
    x_train = normalize(x_train_u8)

    data_dir = os.path.join(args.out_dir, "data")
    save_test_set(os.path.join(data_dir, "fmnist_test_1000.npz"), x_test_u8[:1000], y_test[:1000])
    labels_path = os.path.join(data_dir, "fmnist_test_labels.npy")
    np.save(labels_path, y_test.astype(np.int64))
    print(f"wrote {labels_path}: int64 [{len(y_test)}], {os.path.getsize(labels_path)} bytes")

    torch = setup_torch(args.threads)
    summary = []
    for name in names:
        epochs = args.epochs or MODELS[name]["epochs"]
        model, wall, cpu = train(torch, name, x_train, y_train, x_test, y_test, epochs)
        torch_logits = predict(torch, model, x_test)
        acc = (torch_logits.argmax(1) == y_test).mean()
        cfg = MODELS[name]
        info = (f"{epochs} epochs, {'AdamW' if cfg['weight_decay'] else 'Adam'} lr {cfg['lr']} "
                f"(warm-up + cosine), batch {cfg['batch']}, random horizontal flips, seed {SEED}")
        path = os.path.join(args.out_dir, f"fmnist_{name}.onnx")
        export_onnx(torch, model, name, path, acc, info)
        line = (f"{name}: torch test top-1 {100 * acc:.2f} %, training {wall:.0f} s wall / "
                f"{cpu:.0f} s CPU")
        if args.ort_check:
            ort_acc = ort_report(path, x_test, y_test, torch_logits)
            line += f", ORT test top-1 {100 * ort_acc:.2f} %"
        summary.append(line)
    print("\nsummary")
    for line in summary:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
