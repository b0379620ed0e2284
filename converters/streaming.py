"""Streaming artifacts for live video: a new frame costs one small call, not a whole clip.

Two modes, chosen by the model's structure (`stream_mode`):

  state        causal models with explicit state (MoViNet, `model.step`): ONE program,
               `step(video (B,1,3,H,W), *state) -> (logits, *state_out)`, the state tensors
               explicit inputs and outputs (named in the manifest, zeros to start), fed back
               by the caller after every frame.
  frame-cache  "per-frame encoder, then a temporal head" models (`encode_frames` /
               `classify_tokens`: VLF, TSN, VTN, EfficientViT-TSN, ViViT-FE): TWO programs,
               `encoder(video (B,1,3,H,W)) -> tokens (B,1,...)` once per frame, and
               `head(tokens (B,T,...)) -> logits` over a ring buffer of the last T frames'
               tokens, oldest first. The composition over a window is the clip model on
               those T frames.

    art = convert_stream("vlf_b0", "xnnpack", "artifacts/vlf_b0-xnnpack-stream")
    stream = open_stream("artifacts/vlf_b0-xnnpack-stream", threads=1)
    for frame in frames:                       # (1, 1, 3, H, W) float32, normalised
        logits = stream.push(frame)           # None until the window is full (frame-cache)

`convert_stream` goes through the one pipeline (resolve -> prepare -> rewrite -> lower ->
stage -> evaluate -> manifest -> swap) once per program into one staged folder, and
validates the artifact *as a stream*: frames fed one at a time through the host runtime
(state fed back, or tokens cached) against the eager clip model on the same frames.
"""

from __future__ import annotations

import copy
import statistics
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from converters.backends import DEFAULT_TARGET, get_target
from converters.job import ConversionJob, quiet
from converters.manifest import build_manifest
from converters.pipeline import (Prepared, check_options, finish, host_runtime, lower_or_explain, prepare, resolve,
                                 rewrite_for_target, staged)
from converters.source import INPUT_NAME
from mobilekit.artifact import sha256_of, size_of
from mobilekit.errors import MobilekitError

STATE, FRAME_CACHE = "state", "frame-cache"
TOKENS = "tokens"
STATE_OUT_SUFFIX = "_out"   # an output cannot share its input's name (ONNX, Core ML)


def _core(module: nn.Module) -> nn.Module:
    """The zoo model inside convert's FlatOutputs wrapper (or the module itself)."""
    inner = getattr(module, "model", None)
    return inner if isinstance(inner, nn.Module) and type(module).__name__ == "FlatOutputs" else module


def stream_mode(model: nn.Module) -> str:
    """STATE or FRAME_CACHE for a model that streams; one line naming the models that do otherwise."""
    m = _core(model)
    if callable(getattr(m, "step", None)) and hasattr(m, "state_names") and hasattr(m, "init_state"):
        return STATE
    if callable(getattr(m, "encode_frames", None)) and callable(getattr(m, "classify_tokens", None)):
        return FRAME_CACHE
    raise MobilekitError(f"{type(m).__name__} neither carries causal state nor is a per-frame encoder "
                         "followed by a temporal head, so it has no streaming form",
                         "use --streaming with movinet_a0_stream, movinet_a2_stream (state) or vlf_*, tsn_*, "
                         "vtn_*, efficientvit_b1_tsn, vivit_fe (frame cache); convert others as clips")


def _named(fn: Callable, names: list[str], cls_name: str) -> type[nn.Module]:
    """A module class whose forward takes `names` as its parameters (LiteRT names inputs by the
    keyword they are passed as, so `*state` will not do) and calls `fn(self, *args)`."""
    for n in names:
        if not n.isidentifier():
            raise MobilekitError(f"input name {n!r} is not an identifier", "this is a mobilekit bug; please report it")
    args = ", ".join(names)
    scope: dict = {}
    exec(f"def forward(self, {args}):\n    return self._call({args})\n", scope)  # noqa: S102 - names checked above
    return type(cls_name, (nn.Module,), {"__init__": _init, "forward": scope["forward"], "_call": fn})


def _init(self, model: nn.Module) -> None:
    nn.Module.__init__(self)
    self.model = model


def _heads_only(out) -> torch.Tensor:
    if isinstance(out, dict):
        raise MobilekitError("streaming takes a model with one classification head, not named heads",
                             "stream a single-head model (--classes N)")
    return out


def rank4_shape(shape) -> list[int]:
    """The shape a state tensor is stored in at the program boundary with `state_rank4`: the
    dims between the batch and the last two merged, (N, C, T, H, W) -> (N, C*T, H, W); a
    tensor of rank <= 4 as it is. A contiguous reshape, so no data moves."""
    shape = list(shape)
    if len(shape) <= 4:
        return shape
    return [shape[0], int(np.prod(shape[1:-2])), *shape[-2:]]


def step_module(model: nn.Module, state_rank4: bool = False) -> nn.Module:
    """state mode: `(video, *state) -> (logits, *state_out)` with every input a named parameter.
    With `state_rank4`, every state input and output has rank <= 4 (rank4_shape): the wrapper
    reshapes at the program boundary, the model itself is untouched."""
    m = copy.deepcopy(_core(model)).eval()
    names = [INPUT_NAME, *m.state_names]
    shapes = [tuple(x.shape) for x in m.init_state(1)]

    def call(self, video, *state):
        if self.state_rank4:  # back to the model's own shapes (batch from the frame), and out again
            n = video.shape[0]
            state = [x.reshape(n, *s[1:]) if len(s) > 4 else x for x, s in zip(state, shapes)]
        logits, *new = self.model.step(video, *state)
        if self.state_rank4:
            new = [x.reshape(rank4_shape(x.shape)) for x in new]
        return (_heads_only(logits), *new)

    step = _named(call, names, "StreamStep")(m).eval()
    step.state_rank4 = state_rank4
    return step


class NativeStateStep(nn.Module):
    """Core ML native state (`ct.StateType`, iOS 18): `video -> logits`, the state kept in
    registered buffers updated in place (coremltools' stateful-model form: torch.export lifts
    each mutated buffer, coremltools makes it a state of the model). Buffers start at zeros."""

    def __init__(self, model: nn.Module, batch: int = 1):
        super().__init__()
        self.model = copy.deepcopy(_core(model)).eval()
        self.state_names = list(self.model.state_names)
        for name, zero in zip(self.state_names, self.model.init_state(batch)):
            self.register_buffer(name, zero.clone())

    def forward(self, video: torch.Tensor):
        logits, *new = self.model.step(video, *(getattr(self, n) for n in self.state_names))
        for name, x in zip(self.state_names, new):
            getattr(self, name).copy_(x)
        return (_heads_only(logits),)


class FrameEncoder(nn.Module):
    """frame-cache mode: one frame (B, 1, 3, H, W) -> its tokens (B, 1, ...)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(_core(model)).eval()

    def forward(self, video: torch.Tensor):
        return (self.model.encode_frames(video),)


class TokenHead(nn.Module):
    """frame-cache mode: the last T frames' tokens (B, T, ...), oldest first -> logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = copy.deepcopy(_core(model)).eval()

    def forward(self, tokens: torch.Tensor):
        return (_heads_only(self.model.classify_tokens(tokens)),)


# ---------------------------------------------------------------------------------- running
def check_state(spec: list[dict], state) -> list[np.ndarray]:
    """The caller's state as the program takes it, or one line naming the tensor that is wrong."""
    if len(state) != len(spec):
        raise MobilekitError(f"the stream takes {len(spec)} state tensors, got {len(state)}",
                             "start from Stream.init_state() and feed back what each step returns")
    out = []
    for s, x in zip(spec, state):
        a = np.asarray(x)
        if list(a.shape) != list(s["shape"]) or a.dtype != np.dtype(s["dtype"]):
            raise MobilekitError(f"state {s['name']} is {a.dtype}{list(a.shape)}, the program takes "
                                 f"{s['dtype']}{list(s['shape'])}",
                                 "feed back the state the previous step returned (zeros for a fresh stream)")
        out.append(a)
    return out


class Stream:
    """A streaming artifact on host runtimes: `push(frame)` -> logits (np.ndarray) or None
    while the frame cache fills. `frame_ms` holds the last push's wall time."""

    def __init__(self, folder: Path, manifest: dict, runtimes: list):
        self.folder, self.manifest = folder, manifest
        self.spec = manifest["streaming"]
        self.mode = self.spec["mode"]
        self.runtimes = runtimes
        self.window = self.spec.get("window")
        self.frame_shape = list(manifest["input"]["shape"])
        self.frame_ms: float | None = None
        self.reset()

    def init_state(self) -> list[np.ndarray]:
        return [np.zeros(s["shape"], dtype=s["dtype"]) for s in self.spec["state"]]

    def reset(self) -> None:
        self.state = self.init_state()
        self.tokens: list[np.ndarray] = []

    def push(self, frame: np.ndarray, state=None) -> np.ndarray | None:
        frame = np.asarray(frame, dtype=np.float32)
        if list(frame.shape) != self.frame_shape:
            raise MobilekitError(f"a frame of shape {list(frame.shape)}; the stream takes {self.frame_shape}",
                                 "feed one normalised frame at a time (B, 1, 3, H, W)")
        t0 = time.perf_counter()
        if self.mode == STATE:
            if state is not None:
                self.state = check_state(self.spec["state"], state)
            logits, *self.state = self.runtimes[0].run(frame, *self.state)
        else:
            self.tokens.append(self.runtimes[0].run(frame)[0])
            self.tokens = self.tokens[-self.window:]
            logits = (self.runtimes[1].run(np.concatenate(self.tokens, axis=1))[0]
                      if len(self.tokens) == self.window else None)
        self.frame_ms = (time.perf_counter() - t0) * 1e3
        return logits


def open_stream(folder: str | Path, threads: int | None = None) -> Stream:
    """A streaming artifact folder, every program's sha256 checked, on this machine's runtime."""
    from converters.backends import TARGETS
    from mobilekit.artifact import open_artifact

    art = open_artifact(folder)
    manifest = art.manifest.model_dump(mode="json")
    if not manifest.get("streaming"):
        raise MobilekitError(f"{folder} is a clip artifact, not a streaming one",
                             "convert it with `mobilekit convert --streaming`")
    folder = Path(art.file).parent
    target = TARGETS[manifest["target"]]
    runtimes = []
    for prog in manifest["streaming"]["programs"]:
        file = folder / prog["file"]
        if not file.exists() or sha256_of(file) != prog["sha256"]:
            raise MobilekitError(f"{file} is missing or not the file the manifest describes (sha256)",
                                 "re-convert the artifact with `mobilekit convert --streaming`")
        with quiet():  # the runtimes log from C++ (thread pool resets)
            rt = host_runtime(target, file, threads)
        if rt is None:
            raise MobilekitError(f"{target.name} artifacts do not run here: {target.host_skip_reason}",
                                 "run it on the device, or convert for a target this machine runs")
        rt.input_names = [i["name"] for i in prog["inputs"]]
        runtimes.append(rt)
    return Stream(folder, manifest, runtimes)


# ------------------------------------------------------------------------------- validation
def _stream_frames(shape: list[int], count: int, seed: int = 0) -> torch.Tensor:
    """`count` seeded N(0, 1) frames as one clip (B, count, 3, H, W)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(shape[0], count, *shape[2:], generator=gen)


def _eager_references(prep: Prepared, mode: str, frames: torch.Tensor, window: int) -> list[np.ndarray]:
    """What the stream must give after each compared frame: the eager clip model's logits on
    frames 0..t (state: the causal clip of t+1 frames) or on the window ending at t."""
    model = prep.model
    refs = []
    with torch.no_grad():
        if mode == STATE:
            core = _core(model)
            clip_of = core._clip if hasattr(core, "_clip") else (lambda c: model(c)[0])
            for t in range(frames.shape[1]):
                refs.append(_heads_only(clip_of(frames[:, :t + 1])).numpy())
        else:
            for end in range(window, frames.shape[1] + 1):
                refs.append(model(frames[:, end - window:end])[0].numpy())
    return refs


def validate_stream(prep: Prepared, mode: str, files: list[Path], programs: list[dict], state: list[dict],
                    window: int | None, frames_count: int, latency_runs: int, threads: int | None) -> dict:
    """Feed `frames_count` frames one at a time through the artifact (state fed back, or
    tokens cached) and compare every output with the eager clip model on the same frames."""
    from converters.validate import TOLERANCE

    tgt = prep.target
    if (reason := tgt.host_skip_reason) is not None:
        return {"status": "skipped", "reason": reason}
    frames = _stream_frames(prep.src.input_shape, frames_count)
    refs = _eager_references(prep, mode, frames, window or 1)
    manifest = {"streaming": {"mode": mode, "state": state, "window": window},
                "input": {"shape": [frames.shape[0], 1, *frames.shape[2:]]}}
    try:
        with quiet():
            runtimes = []
            for file, prog in zip(files, programs):
                rt = host_runtime(tgt, file, threads)
                rt.input_names = [i["name"] for i in prog["inputs"]]
                runtimes.append(rt)
            stream = Stream(files[0].parent, manifest, runtimes)
            got = [stream.push(frames[:, t:t + 1].numpy()) for t in range(frames.shape[1])]
    except MobilekitError:
        raise
    except Exception as e:
        return {"status": "failed", "frames": frames_count,
                "reason": f"the host runtime failed to run the stream: {type(e).__name__}: {str(e).strip()[:200]}"}
    got = [g for g in got if g is not None]
    base = TOLERANCE[tgt.precision]
    worst, worst_tol, ok, top1 = 0.0, base, True, []
    for g, w in zip(got, refs):
        if g.shape != w.shape:
            return {"status": "failed", "frames": frames_count,
                    "reason": f"stream output shape {list(g.shape)} != eager {list(w.shape)}"}
        diff = float(np.abs(g.astype(np.float64) - w).max())
        tol = base * max(1.0, float(np.abs(w).max()))
        ok &= bool(np.isfinite(diff)) and diff <= tol
        if not np.isfinite(diff) or diff / tol >= worst / worst_tol:
            worst, worst_tol = diff, tol
        top1.append(bool((g.argmax(-1) == w.argmax(-1)).all()))
    result = {"status": "passed" if ok and len(got) == len(refs) else "failed",
              "reason": None if ok else f"max abs diff {worst:.3g} > tolerance {worst_tol:.3g}",
              "runtime": f"{runtimes[0].name} {runtimes[0].version}", "frames": frames_count,
              "compared": len(got), "max_abs_diff": worst if np.isfinite(worst) else None,
              "tolerance": worst_tol, "top1_agreement": sum(top1) / len(top1) if top1 else None}
    if ok and latency_runs > 0:
        result["frame_latency_ms"] = frame_latency_ms(stream, frames[:, :1].numpy(), latency_runs)
    return result


def frame_latency_ms(stream: Stream, frame: np.ndarray, runs: int, warmup: int = 2) -> float:
    """Median wall time of one new frame once the stream is warm (the window full)."""
    for _ in range(max(warmup, stream.window or 0)):
        stream.push(frame)
    times = []
    for _ in range(runs):
        stream.push(frame)
        times.append(stream.frame_ms)
    return statistics.median(times)


# ------------------------------------------------------------------------------- conversion
def _tensor_specs(names: list[str], tensors) -> list[dict]:
    return [{"name": n, "shape": list(t.shape), "dtype": "float32"} for n, t in zip(names, tensors)]


def _programs(prep: Prepared, mode: str, state_rank4: bool = False,
              coreml_state: bool = False) -> list[tuple[str, nn.Module, tuple, list[str], list[str]]]:
    """(role, module, example inputs, input names, output names) per program."""
    src = prep.src
    frame = src.example_input[:, :1].contiguous()
    if mode == STATE:
        core = _core(prep.model)
        if list(frame.shape[-2:]) != [core.image_size, core.image_size]:
            raise MobilekitError(f"the stream model was built for {core.image_size}px frames, the input is "
                                 f"{list(frame.shape[-2:])}", "give --size to match the model")
        if coreml_state:  # the state lives in the model: the frame is the only input
            return [("step", NativeStateStep(prep.model, frame.shape[0]), (frame,), [INPUT_NAME],
                     [prep.output_names[0]])]
        step = step_module(prep.model, state_rank4)
        state = tuple(core.init_state(frame.shape[0]))
        if state_rank4:
            state = tuple(x.reshape(rank4_shape(x.shape)) for x in state)
        names = [INPUT_NAME, *core.state_names]
        return [("step", step, (frame, *state), names,
                 [prep.output_names[0], *(n + STATE_OUT_SUFFIX for n in core.state_names)])]
    encoder, head = FrameEncoder(prep.model), TokenHead(prep.model)
    with torch.no_grad():
        tokens = encoder.model.encode_frames(src.example_input)   # one clip's tokens: the head's example
    return [("encoder", encoder, (frame,), [INPUT_NAME], [TOKENS]),
            ("head", head, (tokens,), [TOKENS], list(prep.output_names))]


def step_refused(tgt, mode: str | None) -> MobilekitError | None:
    """Why `tgt` takes no state step, or None."""
    if mode == STATE and tgt.delegate == "vulkan":
        # Measured with executorch 1.5.1: MoViNet's hardswish does not lower to Vulkan.
        return MobilekitError("MoViNet's hardswish (stem.act) does not lower to ExecuTorch's Vulkan delegate",
                              "stream MoViNet on xnnpack or tflite; frame-cache models (vlf, tsn, vtn, ...) "
                              "do convert for vulkan")
    return None


def check_stream_options(tgt, mode: str | None = None, *, state_rank4: bool = False,
                         coreml_state: bool = False) -> None:
    """Refuse, before any work, a state option where it does not apply (the target's family,
    then, once the model is known, its stream mode)."""
    if state_rank4 and coreml_state:
        raise MobilekitError("--state-rank4 shapes explicit state inputs; with --coreml-state the state is "
                             "inside the model", "give one of them")
    if coreml_state and tgt.runtime != "coreml":
        raise MobilekitError(f"--coreml-state is Core ML's native state (ct.StateType); {tgt.name} is not a "
                             "Core ML target", "drop --coreml-state, or convert for ane, coreml-gpu or coreml-cpu")
    if (refused := step_refused(tgt, mode)) is not None:
        raise refused
    if mode is not None and mode != STATE and (state_rank4 or coreml_state):
        flag = "--state-rank4" if state_rank4 else "--coreml-state"
        raise MobilekitError(f"{flag} applies to a model with causal state (movinet_*_stream); this one streams "
                             "with a frame cache (encoder + head), which carries no state", f"drop {flag}")


def lower_native_state(prep: Prepared, job) -> dict:
    """Core ML with native state: the NativeStateStep's mutated buffers become Core ML states
    (ct.StateType; iOS 18, fp16: Core ML keeps states in fp16 only). Returns the lowering's
    extras with `native_state` (name, shape, dtype per state) and a note for the manifest."""
    import shutil

    import coremltools as ct

    from converters.backends.coreml.lower import compute_unit

    model = job.model
    names = [n for n, _ in model.named_buffers() if n in set(getattr(model, "state_names", []))]
    if not names:  # a graph pass rebuilt the module: its buffers are no longer the step's state
        raise MobilekitError(f"the {job.target.name} rewrites rebuilt the step, so its state buffers are gone",
                             "use --coreml-state with coreml-gpu or coreml-cpu, or drop it for ane")
    buffers = dict(model.named_buffers())
    states = [ct.StateType(wrapped_type=ct.TensorType(shape=tuple(buffers[n].shape), dtype=np.float16), name=n)
              for n in names]
    precision = ct.precision.FLOAT16 if job.target.precision == "fp16" else ct.precision.FLOAT32
    try:
        with quiet(), torch.no_grad():
            exported = torch.export.export(model, job.example_inputs).run_decompositions({})
            mlmodel = ct.convert(
                exported, inputs=[ct.TensorType(name=job.input_name, shape=tuple(job.example_input.shape),
                                                dtype=np.float32)],
                outputs=[ct.TensorType(name=n, dtype=np.float32) for n in job.output_names], states=states,
                convert_to="mlprogram", minimum_deployment_target=ct.target.iOS18, compute_precision=precision,
                compute_units=compute_unit(ct, job.target.compute_units))
    except MobilekitError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        raise MobilekitError(f"coremltools {ct.__version__} does not convert the step with native state: "
                             f"{type(e).__name__}: {first}",
                             "convert without --coreml-state (explicit state inputs and outputs)") from e
    mlmodel.short_description = f"mobilekit {job.target.name} stream step (native state)"
    if job.path.exists():
        shutil.rmtree(job.path)
    mlmodel.save(str(job.path))
    spec = [{"name": n, "shape": list(buffers[n].shape), "dtype": "float16", "init": "zeros"} for n in names]
    note = (f"Core ML native state: {len(names)} state tensors live inside the model (ct.StateType, fp16, "
            "iOS 18 / macOS 15; MoViNet's running sums in fp16 lose precision over long streams); make one with "
            "model.makeState() per stream and pass it to every prediction. "
            "Not run on this host (Core ML runs on Apple platforms only); the saved spec declares the states")
    return {"notes": [], "minimum_deployment_target": "iOS18", "native_state": spec, "native_state_note": note}


def convert_stream(model_or_name=None, target: str = DEFAULT_TARGET, out_dir: str | Path | None = None, *,
                   num_classes=None, num_frames: int | None = None, image_size: int | None = None,
                   checkpoint: str | None = None, validate: bool = True, stream_frames: int | None = None,
                   latency_runs: int = 20, threads: int | None = None, state_rank4: bool = False,
                   coreml_state: bool = False, on_stage: Callable[[str], None] | None = None):
    """Convert a model's streaming form to one target (module docstring); returns
    converters.api.Artifact. `num_frames` is the window of a frame-cache model (its clip
    length); `stream_frames` how many frames the stream validation feeds (default: the window
    + 2, so it slides; state models: 4). A model with no streaming form is refused before any work.

    State models only: `state_rank4` stores every state tensor with rank <= 4 at the program
    boundary (rank4_shape; for delegates that take no 5-D tensors, e.g. LiteRT GPU); the
    manifest's state shapes are the stored ones. `coreml_state` (Core ML targets) keeps the
    state inside the model as Core ML states (ct.StateType, iOS 18) instead of explicit inputs
    and outputs. Either option where it does not apply is refused before any work."""
    from converters.api import Artifact, ValidationFailed, _default_input_spec

    stage = on_stage or (lambda _s: None)
    tgt = get_target(target)
    check_options(latency_runs=latency_runs, threads=threads)
    check_stream_options(tgt, state_rank4=state_rank4, coreml_state=coreml_state)
    src = resolve(model_or_name, checkpoint=checkpoint, num_classes=num_classes, num_frames=num_frames,
                  image_size=image_size)
    mode = stream_mode(src.module)
    check_stream_options(tgt, mode, state_rank4=state_rank4, coreml_state=coreml_state)
    window = src.input_shape[1] if mode == FRAME_CACHE else None
    count = stream_frames if stream_frames is not None else ((window + 2) if window else 4)
    if count < (window or 1):
        raise MobilekitError(f"{count} stream frames do not fill the window of {window}",
                             f"feed at least {window} frames")
    prep = prepare(src, tgt, out_dir, f"{src.name}-{tgt.name}-stream", stage)
    programs = _programs(prep, mode, state_rank4, coreml_state)
    ext = tgt.extension
    files = [prep.file_name] + [f"model.{role}.{ext}" for role, *_ in programs[1:]]

    stage("converting")
    with staged(prep) as staging:
        t0, cpu0 = time.perf_counter(), time.process_time()
        extras: dict = {"notes": [], "rewrites": {}, "delegation": {}}
        specs = []
        for (role, module, inputs, in_names, out_names), name in zip(programs, files):
            job = ConversionJob(model=module, example_input=inputs[0], extra_inputs=inputs[1:],
                                extra_input_names=in_names[1:], target=tgt, path=staging / name,
                                input_name=in_names[0], output_names=out_names)
            job.model, rewrites = rewrite_for_target(job.model, inputs[0] if len(inputs) == 1 else tuple(inputs), tgt)
            done = lower_native_state(prep, job) if coreml_state else lower_or_explain(prep, job)
            extras["rewrites"][role] = rewrites
            if done.get("delegation"):
                extras["delegation"][role] = done["delegation"]
            extras["notes"] += [f"{role}: {n}" for n in done.get("notes", [])]
            with torch.no_grad():
                outs = module(*inputs)
            specs.append({"role": role, "file": name, "size_bytes": size_of(job.path),
                          "sha256": sha256_of(job.path), "inputs": _tensor_specs(in_names, inputs),
                          "outputs": _tensor_specs(out_names, outs)})
        seconds = time.perf_counter() - t0
        extras["cpu_seconds"] = round(time.process_time() - cpu0, 2)
        state = ([{"name": n, "shape": list(x.shape), "dtype": "float32", "init": "zeros"}
                  for n, x in zip(programs[0][3][1:], programs[0][2][1:])] if mode == STATE else [])
        if state_rank4:
            model_shapes = {n: list(x.shape) for n, x in zip(_core(prep.model).state_names,
                                                             _core(prep.model).init_state(src.input_shape[0]))}
            extras["state_layout"] = {"rank4": True, "model_shapes": model_shapes}
            extras["notes"].append("state kept at rank <= 4: each (N, C, T, H, W) state is stored as "
                                   "(N, C*T, H, W) (a reshape, same order); feed back what the step returns")
        if coreml_state:
            extras["native_state"] = done["native_state"]
            extras["notes"].append(done["native_state_note"])

        if validate:
            stage("validating")
            t1 = time.perf_counter()
            validation = validate_stream(prep, mode, [staging / f for f in files], specs, state, window,
                                         count, latency_runs, threads)
            extras["validation_seconds"] = round(time.perf_counter() - t1, 2)
        else:
            validation = {"status": "skipped", "reason": "validation disabled (--no-validate)"}

        stage("writing")
        input_spec = _default_input_spec(src)
        input_spec.update(shape=specs[0]["inputs"][0]["shape"], frame_sampling="consecutive")
        outputs = [{"name": o["name"], "shape": o["shape"], "kind": "logits"} for o in specs[-1]["outputs"][:1]]
        if mode == STATE:
            outputs += [{"name": o["name"], "shape": o["shape"], "kind": "state"} for o in specs[0]["outputs"][1:]]
        classes = src.classes if isinstance(src.classes, list) and len(src.classes) == outputs[0]["shape"][-1] else None
        # The clip-level block every reader knows: the stream's own result, in its terms.
        clip_validation = {k: validation.get(k) for k in ("status", "reason", "runtime", "max_abs_diff", "tolerance",
                                                         "top1_agreement")}
        clip_validation.update(samples=validation.get("compared"), host_latency_ms=validation.get("frame_latency_ms"))
        manifest = build_manifest(
            model=src.name, family=src.family, num_classes=outputs[0]["shape"][-1], classes=classes,
            input=input_spec, outputs=outputs, target=tgt.name, runtime=tgt.runtime,
            compute_units=tgt.compute_units, delegate=tgt.delegate, precision=tgt.precision, quantization=None,
            file=files[0], size_bytes=specs[0]["size_bytes"], sha256=specs[0]["sha256"],
            tools=prep.backend.tool_versions(tgt), validation=clip_validation,
            conversion={"seconds": round(seconds, 2), "source": src.origin, "config": src.config, **extras},
            streaming={"mode": mode, "programs": specs, "state": state, "window": window, "validation": validation},
        )
        dest = finish(staging, prep, manifest)
    artifact = Artifact(path=dest, file=dest / files[0], manifest=manifest, seconds=seconds)
    if validation["status"] == "failed":
        raise ValidationFailed(artifact, prep.folder)
    return artifact


# ------------------------------------------------------------------------------------ check
def check_stream(model_or_name=None, targets=(DEFAULT_TARGET,), *, num_classes=None, num_frames: int | None = None,
                 image_size: int | None = None, checkpoint: str | None = None, state_rank4: bool = False,
                 on_target: Callable[[str], None] | None = None):
    """`mobilekit check --streaming`: the backend's compatibility check of each streaming
    program (the step, or the encoder and the head) as convert --streaming builds it, with the
    target's rewrites; one converters.compat.TargetReport per (target, program), its `target`
    "<target> <role>" and its first note naming the program's inputs. Returns CheckResult."""
    from types import SimpleNamespace

    from converters.backends import backend_of
    from converters.compat import NOT_CHECKED, CheckResult, TargetReport, resolve_targets
    from converters.source import prepare_for_export

    names = resolve_targets(targets)
    src = resolve(model_or_name, checkpoint=checkpoint, num_classes=num_classes, num_frames=num_frames,
                  image_size=image_size)
    mode = stream_mode(src.module)
    tgts = [get_target(n) for n in names]
    for tgt in tgts:
        check_stream_options(tgt, None if step_refused(tgt, mode) else mode, state_rank4=state_rank4)
    model, out_names, _ = prepare_for_export(src)
    base = SimpleNamespace(src=src, model=model, output_names=out_names)
    programs = _programs(base, mode, state_rank4)
    result = CheckResult(model=src.name, input_shape=list(programs[0][2][0].shape))
    for tgt in tgts:
        if on_target:
            on_target(tgt.name)
        if (refused := step_refused(tgt, mode)) is not None:
            result.reports.append(TargetReport(target=f"{tgt.name} step", verdict=NOT_CHECKED,
                                               notes=[str(refused)]))
            continue
        for role, module, inputs, in_names, _ in programs:
            t0 = time.perf_counter()
            example = inputs[0] if len(inputs) == 1 else tuple(inputs)
            try:
                with quiet():
                    prog, rewrites = rewrite_for_target(copy.deepcopy(module), example, tgt)
                report = backend_of(tgt).check(tgt, prog, example, profile=False, cache={})
                report.rewrites = rewrites + list(report.rewrites)
            except MobilekitError:
                raise
            except Exception as e:  # one program's failed check must not hide the others
                first = str(e).splitlines()[0] if str(e) else ""
                report = TargetReport(target=tgt.name, verdict=NOT_CHECKED,
                                      notes=[f"the check itself failed: {type(e).__name__}: {first[:300]}"])
            report.target = f"{tgt.name} {role}"
            shapes = ", ".join(f"{n} {list(x.shape)}" for n, x in zip(in_names[:3], inputs[:3]))
            more = f" and {len(inputs) - 3} more state tensors" if len(inputs) > 3 else ""
            report.notes.insert(0, f"streaming {role} program ({mode}): inputs {shapes}{more}")
            report.seconds = round(time.perf_counter() - t0, 1)
            result.reports.append(report)
    return result


# ------------------------------------------------------------------------------- a real video
def stream_video(folder: str | Path, video: str | Path, *, threads: int | None = None, top: int = 3,
                 max_frames: int | None = None):
    """Decode `video` (PyAV), feed its frames one at a time through the streaming artifact on
    the host runtime, and yield per frame {frame, ms, top: [[class, score], ...] or None while
    the window fills}. A video shorter than the window is refused before any frame runs."""
    from mobilekit.data.transforms import crop, normalize, to_float
    from mobilekit.data.video import VideoDecodeError, count_frames, decode_frames

    stream = open_stream(folder, threads)
    spec = stream.manifest["input"]
    size = spec["shape"][-1]
    need = stream.window or 1
    try:
        total = count_frames(video)
    except VideoDecodeError as e:
        raise MobilekitError(str(e), "give a readable video file (mp4, webm, ...)") from e
    if max_frames is not None:
        total = min(total, max_frames)
    if total < need:
        raise MobilekitError(f"{video} has {total} frames, fewer than the {need} the stream's window needs",
                             f"give a video of at least {need} frames (or a model with a shorter --frames)")
    try:
        frames = decode_frames(video, indices=list(range(total)), short_side=size)
    except VideoDecodeError as e:
        raise MobilekitError(str(e), "give a readable video file (mp4, webm, ...)") from e
    classes = stream.manifest.get("classes")
    with torch.no_grad():
        clip = normalize(crop(to_float(frames), size, train=False), spec["mean"], spec["std"])
    for i in range(total):
        logits = stream.push(clip[i][None, None].numpy())
        best = None
        if logits is not None:
            scores = torch.softmax(torch.from_numpy(logits[0]), -1)
            values, idx = scores.topk(min(top, scores.numel()))
            best = [[classes[j] if classes else int(j), round(float(v), 4)] for v, j in zip(values, idx.tolist())]
        yield {"frame": i, "ms": round(stream.frame_ms, 3), "top": best}
