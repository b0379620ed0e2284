"""`quantize()`: one model, one target, one scheme -> a quantized artifact whose manifest says
what quantization cost (wire.Quantization: scheme, tool, calibration, sample count, report).

The fp32 (fp16 for ane/coreml-gpu) artifact of the same target is converted first, into a
temporary folder: it is the "before" of the size and latency figures, and the input of the
passes that work on a converted file (ONNX Runtime, Core ML). The quantized artifact is then
compared with the eager fp32 model on held-out clips on the host runtime.
"""

from __future__ import annotations

import copy
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from converters.api import Artifact, convert
from converters.backends import DEFAULT_TARGET, Scheme, Target, backend_of, get_scheme, get_target, schemes_for
from converters.job import quiet
from converters.manifest import build_manifest
from converters.pipeline import (check_options, finish, host_runtime, prepare, resolve,
                                 rewrite_for_target, staged)
from converters.quantize.calibration import CalibrationData, load_clips, require_calibration
from converters.quantize.job import QuantJob, QuantResult
from converters.quantize.mixed import PREFER, check_floor, check_floor_reachable
from converters.quantize.pt2e import DEFAULT_OBSERVER, check_observer
from converters.quantize.report import agreement, ratio, top1_accuracy
from converters.source import INPUT_NAME, SourceModel
from converters.validate import eager_outputs
from mobilekit.artifact import sha256_of, size_of
from mobilekit.errors import MobilekitError


class QuantizationFailed(MobilekitError):
    """The quantized artifact was written (validation "failed" in its manifest) but its outputs
    are unusable (wrong shapes or not finite). It is kept in `<folder>.failed` (`artifact.path`);
    `folder` is left as it was."""

    def __init__(self, artifact: Artifact, reason: str, folder: Path):
        self.artifact = artifact
        super().__init__(f"the quantized {artifact.target} artifact is unusable: {reason} (kept in {artifact.path}; "
                         f"{folder} left as it was)", "try another scheme, or report the model with that folder")


def _latency(runtime, clip: np.ndarray, runs: int) -> float | None:
    from converters.validate import median_latency_ms

    ms = median_latency_ms(runtime, clip, runs)
    return round(ms, 4) if ms is not None else None


def _evaluate(target: Target, scheme: Scheme, baseline: Path, quantized: Path, model: nn.Module,
              data: CalibrationData, output_names: list[str], latency_runs: int,
              threads: int | None) -> tuple[dict, dict]:
    """(report fields, validation block) for the quantized artifact."""
    held = data.held_out
    report: dict = {"held_out_source": held.source, "held_out_samples": len(held)}
    with quiet():
        after_rt = host_runtime(target, quantized, threads)
    if after_rt is None:
        reason = f"{target.host_skip_reason}; what can be checked without running it was checked"
        report["agreement_skipped"] = reason
        simulated = backend_of(target).simulate_quantized(target, scheme, model)
        if simulated is not None:  # an estimate of the accuracy cost where the artifact cannot run
            reference, sim_out = eager_outputs(model, held.clips), eager_outputs(simulated, held.clips)
            report.update({f"simulated_{k}": v for k, v in agreement(reference, sim_out).items()})
            report["simulated_how"] = ("PyTorch with the weights compressed as the scheme does (fp32 "
                                       "compute); the Core ML artifact itself was not run")
            if held.labels is not None:
                report["accuracy_fp32"] = top1_accuracy(reference, held.labels, output_names)
                report["simulated_accuracy_quantized"] = top1_accuracy(sim_out, held.labels, output_names)
        return report, {"status": "skipped", "reason": reason}
    reference = eager_outputs(model, held.clips)
    with quiet():
        outputs = [after_rt.run(c) for c in held.clips]
    runtime_name = f"{after_rt.name} {after_rt.version}"
    bad = next((f"output shapes {[o.shape for o in got]} != fp32 {[r.shape for r in want]}"
                for got, want in zip(outputs, reference)
                if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want))), None)
    if bad is None and not all(np.isfinite(o).all() for outs in outputs for o in outs):
        bad = "non-finite outputs"
    if bad is not None:
        return report, {"status": "failed", "reason": bad, "runtime": runtime_name, "samples": len(held)}
    report.update(agreement(reference, outputs))
    if held.labels is not None:
        report["accuracy_fp32"] = top1_accuracy(reference, held.labels, output_names)
        report["accuracy_quantized"] = top1_accuracy(outputs, held.labels, output_names)
    with quiet():
        report["host_latency_ms_after"] = _latency(after_rt, held.clips[0], latency_runs)
        del after_rt
        before_rt = host_runtime(target, baseline, threads)
        report["host_latency_ms_before"] = _latency(before_rt, held.clips[0], latency_runs)
    report["latency_ratio"] = ratio(report["host_latency_ms_after"], report["host_latency_ms_before"])
    report.update(runtime=runtime_name, threads=threads, latency_runs=latency_runs)
    validation = {
        "status": "passed", "runtime": runtime_name, "samples": len(held),
        "reason": "quantized: compared with the fp32 model on held-out clips, no tolerance applies "
                  "(see quantization.report)",
        "max_abs_diff": report["max_abs_diff"], "mean_abs_diff": report["mean_abs_diff"],
        "top1_agreement": report["top1_agreement"], "host_latency_ms": report["host_latency_ms_after"],
    }
    return report, validation


def quantize(model_or_name: str | nn.Module | SourceModel | None = None, target: str = DEFAULT_TARGET,
             scheme: str = "int8", out_dir: str | Path | None = None, *, checkpoint: str | None = None,
             module: str | None = None, example_input: torch.Tensor | None = None,
             input_shape: list[int] | None = None, num_classes=None, num_frames: int | None = None,
             image_size: int | None = None, calibration: str | None = None, samples: int = 32,
             eval_samples: int = 32, latency_runs: int = 20, threads: int | None = None, seed: int = 0,
             baseline: Artifact | None = None, float_layers: list[str] | None = None,
             on_stage: Callable[[str], None] | None = None, check_data: str | None = None,
             check_samples: int = 4, check_set: bool = True, explain: bool = False,
             observer: str = DEFAULT_OBSERVER, keep_accuracy: float | None = None,
             prefer: str = "accuracy", profile_runs: int = 10,
             qat: Callable[[torch.fx.GraphModule], None] | None = None,
             bias_correction: bool = True) -> Artifact:
    """Quantize a model for `target` with `scheme` and write `out_dir/model.<ext>` + manifest.json.

    What to quantize: as for `converters.convert` (zoo name, nn.Module, `checkpoint`, `module`).
    `calibration`: None or "synthetic" (the synthetic dataset), a dataset folder (a folder per
    class), or FORMAT:PATH (ssv2, kinetics, epic100). `samples` calibration clips (static
    schemes) and `eval_samples` held-out clips (agreement with fp32, accuracy where labels
    exist) come from disjoint splits. `latency_runs` timed runs give the median host latency
    of the fp32 and the quantized artifact at `threads`. `baseline`: the fp32 artifact of the
    same model and target when the caller has one (`converters.convert`), so several schemes
    share one conversion; otherwise it is converted into a temporary folder. `float_layers`:
    module names or globs (as in the model's state dict, e.g. "backbone.blocks.2.*.conv_dw")
    kept in floating point, for the PT2E schemes (xnnpack, tflite); the report lists the
    modules that matched and the artifact's precision becomes "mixed".

    Raises MobilekitError for an unsupported scheme (listing the target's schemes), W8A8 off
    macOS, counts below their minimum (calibration `samples` and `eval_samples` >= 1,
    `latency_runs` >= 0, `threads` >= 1) and an `out_dir` holding other files, all before any
    work, and for bad calibration data; QuantizationFailed when the quantized artifact's
    outputs are unusable (kept in `<out_dir>.failed`). The folder is replaced whole, only once
    the new one is complete (converters/staging.py).

    `check_set`: as for `converters.convert`, with the fp32 eager model's outputs as expected
    and the quantized precision's tolerance (mobilekit/artifact/checkset.py).

    PT2E schemes whose backend exposes `pt2e_setup` (converters/backends/*/quantize.py):
    `observer` (pt2e.OBSERVERS) fixes activation ranges; `explain` adds every quantized op's
    error vs fp32 on the calibration clips (explain.py) and, where the backend profiles its
    programs (xnnpack), int8 vs fp32 kernel times from ETDump (`profile_runs` runs), under
    `report["explain"]`; `keep_accuracy` (a mean logit cosine floor in (0, 1] on the held-out
    clips) keeps the most harmful ops in float until it is met, and `prefer="speed"` also those
    whose int8 kernel is slower here (mixed.py), under `report["mixed"]`. A floor that even
    the fp32 artifact misses on the host runtime is refused before anything is written.

    `qat`: quantization-aware fine-tuning of the fake-quantized graph, for the static PT2E
    schemes (converters/quantize/qat.py builds it; pt2e.prepare_graph calls it); what it
    records in its `report` attribute goes under `report["qat"]`.

    `bias_correction` (static PT2E int8 schemes, not after QAT): each conv's and linear's bias
    absorbs the mean shift int8 puts on its output, measured on calibration clips
    (pt2e.correct_bias); `report["bias_correction"]` says whether it ran.
    """
    stage = on_stage or (lambda _s: None)
    tgt = get_target(target)
    sch: Scheme = get_scheme(tgt, scheme)
    if float_layers and not sch.float_layers:
        raise MobilekitError(f"--float-layers is not supported for {tgt.name} {sch.name}",
                             f"drop --float-layers, or quantize for {' or '.join(_targets_with_float_layers())}")
    backend = backend_of(tgt)
    check_observer(observer)
    check_floor(keep_accuracy)
    if prefer not in PREFER:
        raise MobilekitError(f"--prefer {prefer} is not one of {', '.join(PREFER)}", "use --prefer speed or accuracy")
    analyse = explain or keep_accuracy is not None or prefer == "speed"
    static_pt2e = bool(sch.float_layers and sch.calibrated and _setup(tgt))  # xnnpack, tflite int8
    if (analyse or observer != DEFAULT_OBSERVER) and not static_pt2e:
        what = "--observer" if not analyse else ("--explain" if explain else
                                                  "--keep-accuracy" if keep_accuracy is not None else "--prefer speed")
        able = [f"{t} int8" for t in _targets_with_float_layers() if _setup(get_target(t))]
        raise MobilekitError(f"{what} is not supported for {tgt.name} {sch.name}",
                             f"use it with {' or '.join(able) or 'a static PT2E scheme'}")
    if prefer == "speed" and _partitioner(tgt) is None:
        raise MobilekitError(f"--prefer speed needs a per-kernel profile, which {tgt.name} has not here",
                             "drop --prefer speed, or quantize for a profiled target (xnnpack)")
    backend.before_quantize(tgt, sch)  # before any conversion work (Core ML W8A8 needs macOS)
    # Cheap arguments before any work (load_clips checks them again, after the model is built).
    check_options(samples=samples if sch.calibrated else None, eval_samples=eval_samples,
                  latency_runs=latency_runs, threads=threads)
    if check_set:
        from converters.checkset import check_count

        check_count(check_samples)
    src = resolve(model_or_name, checkpoint=checkpoint, module=module, example_input=example_input,
                  input_shape=input_shape, num_classes=num_classes, num_frames=num_frames, image_size=image_size)
    require_calibration(calibration, sch.calibrated, src.classes)  # before any work
    prep = prepare(src, tgt, out_dir, f"{src.name}-{tgt.name}-{sch.name}", stage)
    model, out_names = prep.model, prep.output_names
    n_logits = prep.example_outputs[0].shape[-1]
    stage("loading clips")
    data = load_clips(src.input_shape, calibration, samples=samples if sch.calibrated else 0,
                      eval_samples=eval_samples, model_classes=src.classes, num_classes=n_logits, seed=seed)

    if sch.calibrated and len(data.calibration) < MIN_CALIBRATION:
        data.notes.append(f"calibration on {len(data.calibration)} clip(s): activation ranges from so few may "
                          f"miss the data's spread; {MIN_CALIBRATION} or more (--samples) is safer")

    with tempfile.TemporaryDirectory(prefix="mobilekit-fp32-") as tmp:
        if baseline is None:
            stage("converting fp32")
            base = convert(src, tgt.name, Path(tmp) / "fp32", validate=False, check_set=False)
        else:
            base = _check_baseline(baseline, tgt, src)
        if keep_accuracy is not None:  # before anything is written: can the all-float artifact meet it?
            stage("measuring the fp32 artifact")
            cosine, runtime = _float_cosine(tgt, base.file, model, data.held_out.clips, threads)
            if cosine is not None:
                check_floor_reachable(keep_accuracy, cosine, runtime)
        stage("quantizing")
        with staged(prep) as staging:
            file = staging / prep.file_name
            job = QuantJob(model=copy.deepcopy(model), example_input=src.example_input, target=tgt, scheme=sch,
                           path=file, baseline=base.file, input_name=INPUT_NAME, output_names=out_names,
                           calibration=data.calibration.clips, float_layers=list(float_layers or []),
                           observer=observer, qat=qat,
                           bias_correction=bias_correction and qat is None and static_pt2e)
            t0 = time.perf_counter()
            analysis: dict = {}
            try:
                # The same numerically identical module rewrites as the fp32 conversion (the
                # graph passes work on an exported graph, which the quantizers export again).
                job.model, _ = rewrite_for_target(job.model, job.example_input, tgt, graph_passes=False)
                if analyse:
                    stage("explaining" if keep_accuracy is None and prefer != "speed" else "choosing float layers")
                    with quiet():
                        analysis = _analyse(job, base.file, model, data, explain, keep_accuracy, prefer,
                                            profile_runs)
                with quiet():
                    result: QuantResult = backend.quantize(job)
            except MobilekitError:
                raise
            except Exception as e:
                raise MobilekitError(f"{sch.tool} failed on {src.name} for {tgt.name} {sch.name}: "
                                     f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}",
                                     f"try another scheme ({', '.join(s for s in _others(tgt, sch))}) or the fp32 "
                                     "target; --debug shows the traceback") from e
            seconds = time.perf_counter() - t0
            backend.check_written(tgt, file, INPUT_NAME, src.input_shape,
                                  [(o["name"], o["shape"]) for o in base.manifest["outputs"]])
            stage("evaluating")
            report, validation = _evaluate(tgt, sch, base.file, file, model, data, out_names, latency_runs, threads)

            stage("writing")
            size_after = size_of(file)
            report = {"baseline_precision": base.manifest["precision"],
                      "size_bytes_before": base.manifest["size_bytes"], "size_bytes_after": size_after,
                      "size_ratio": ratio(size_after, base.manifest["size_bytes"]), **report}
            if result.io is not None:
                report["io"] = result.io
            if result.float_layers:
                report["float_layers"] = result.float_layers
            if observer != DEFAULT_OBSERVER or analyse:
                report["observer"] = observer
            report.update(analysis)
            if static_pt2e:
                report["bias_correction"] = job.bias_correction
            if qat is not None:
                report["qat"] = dict(getattr(qat, "report", None) or {})
            if "mixed" in report:
                report["mixed"]["runtime_mean_cosine"] = report.get("mean_cosine")
                met = report["mixed"]["simulated_floor_met"]
                if keep_accuracy is not None and not met:
                    data.notes.append(f"--keep-accuracy {keep_accuracy} was not met even with every ranked op in "
                                      "float (PyTorch simulation): the error comes from elsewhere")
                elif keep_accuracy is not None and report.get("mean_cosine") is not None \
                        and report["mean_cosine"] < keep_accuracy:
                    data.notes.append(f"the artifact's mean cosine on the runtime ({report['mean_cosine']:.4f}) is "
                                      f"below --keep-accuracy {keep_accuracy}, which its PyTorch simulation met")
            if data.skipped:
                report["unreadable_videos_skipped"] = data.skipped
            manifest = dict(base.manifest)
            manifest.pop("created_at", None)
            if result.io is not None:  # integer I/O (LiteRT static int8): the app feeds int8
                manifest["input"] = {**manifest["input"], "dtype": result.io["inputs"][0]["dtype"]}
            manifest.update(
                file=prep.file_name, size_bytes=size_after, sha256=sha256_of(file),
                precision="mixed" if result.float_layers or job.float_nodes else sch.precision,
                tools=backend.tool_versions(tgt, extra=sch.tools),
                quantization={"scheme": sch.name, "tool": sch.tool,
                              "calibration": data.calibration.source if sch.calibrated else None,
                              "calibration_samples": len(data.calibration) if sch.calibrated else None,
                              "report": report},
                validation=validation,
                conversion={**base.manifest["conversion"], "seconds": round(base.seconds + seconds, 2),
                            "quantize_seconds": round(seconds, 2), "notes": [*result.notes, *data.notes],
                            **({"delegation": result.delegation} if result.delegation else {})},
            )
            manifest["check_set"] = None
            if check_set:  # expected: the fp32 eager model's outputs; tolerance: the quantized precision's
                from converters.checkset import write_check_set

                manifest["check_set"], note = write_check_set(
                    staging, model, src.input_shape, out_names, manifest["precision"], check_data, check_samples,
                    src.classes, n_logits)
                if note:
                    manifest["conversion"]["notes"].append(note)
            manifest = build_manifest(**manifest)
            # Unusable outputs: kept for inspection beside the folder, which stays as it was.
            dest = finish(staging, prep, manifest)
    artifact = Artifact(path=dest, file=dest / prep.file_name, manifest=manifest, seconds=base.seconds + seconds)
    if validation["status"] == "failed":
        raise QuantizationFailed(artifact, validation["reason"], prep.folder)
    return artifact


MIN_CALIBRATION = 16


def _setup(tgt: Target):
    """The backend's pt2e_setup(job) -> (model, quantizer), or None where it has none."""
    try:
        return getattr(backend_of(tgt)._module("quantize"), "pt2e_setup", None)
    except ImportError:
        return None


def _partitioner(tgt: Target):
    """The backend's program_partitioner(job), for ETDump kernel times (None: not profiled)."""
    if not tgt.profiled:
        return None
    return getattr(backend_of(tgt)._module("quantize"), "program_partitioner", None)


def _float_cosine(tgt: Target, file: Path, model: nn.Module, clips: list[np.ndarray],
                  threads: int | None) -> tuple[float | None, str]:
    """The fp32 artifact's mean logit cosine with the eager model on `clips` (None: no runtime here)."""
    with quiet():
        rt = host_runtime(tgt, file, threads)
        if rt is None:
            return None, ""
        outputs = [rt.run(c) for c in clips]
    return agreement(eager_outputs(model, clips), outputs)["mean_cosine"], f"{rt.name} {rt.version}"


def _analyse(job: QuantJob, baseline: Path, model: nn.Module, data: CalibrationData, explain: bool,
             keep_floor: float | None, prefer: str, profile_runs: int) -> dict:
    """report["explain"] and report["mixed"]; sets job.float_nodes for --keep-accuracy / --prefer speed."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e

    from converters.quantize import explain as ex
    from converters.quantize.mixed import keep_accuracy as choose, outputs_of
    from converters.quantize.pt2e import convert_graph, graph_tensors, prepare_graph, set_biases

    setup = _setup(job.target)
    qmodel, quantizer = setup(job)
    clips = job.calibration[:EXPLAIN_CLIPS]
    graph, prepared, _ = prepare_graph(qmodel, job.example_input, quantizer, job.calibration, job.float_layers)
    with torch.no_grad():
        unfolded = convert_pt2e(copy.deepcopy(prepared), fold_quantize=False)  # for float_gains
    converted = convert_graph(graph, prepared, job.calibration, bias_correction=job.bias_correction)
    corrected = converted.meta.get("corrected_biases", {})
    params = graph_tensors(unfolded)
    uncorrected = {k: params[k].detach().clone() for k in corrected if k in params}
    set_biases(unfolded, corrected)
    errors = ex.layer_errors(graph, converted, clips)
    # Rank by what each op's float recovers at the logits (calibration clips), then by its own noise.
    gains = ex.float_gains(unfolded, [e["node"] for e in errors], clips, eager_outputs(model, clips), uncorrected)
    for e in errors:
        e["float_gain"] = round(gains.get(e["node"], 0.0), 6)
    errors.sort(key=lambda e: -e["float_gain"])
    out: dict = {}
    times = None
    make_partitioner = _partitioner(job.target)
    if make_partitioner is not None and (explain or prefer == "speed"):
        times = _kernel_times(job, graph, converted, baseline, make_partitioner(job), profile_runs)
    if explain:
        out["explain"] = {"clips": len(clips), "how": "PyTorch simulation of the scheme vs the fp32 graph "
                          "(torchao numeric debugger); ranked by what each op's float recovers at the logits "
                          "(float_gain), then by the noise it adds",
                          "layers": errors, **({"kernel_times": times} if times else {})}
    if keep_floor is None and prefer != "speed":
        return out
    always = set(ex.slower_in_int8(times)) if prefer == "speed" and times else set()

    def build(nodes: set[str]) -> torch.fx.GraphModule:
        g, p, _ = prepare_graph(qmodel, job.example_input, quantizer, job.calibration, job.float_layers, nodes)
        return convert_graph(g, p, job.calibration, bias_correction=job.bias_correction)

    held = data.held_out.clips
    reference = eager_outputs(model, held)
    plain = agreement(reference, outputs_of(converted, held))
    tries: list[dict] = []
    kept = always
    if keep_floor is not None:
        ranking = [e["node"] for e in errors if e["node"] not in always]
        kept, tries = choose(build, ranking, held, reference, keep_floor, always)
    elif always:
        got = agreement(reference, outputs_of(build(always), held))
        tries = [{"kept": len(always), "mean_cosine": round(got["mean_cosine"], 6),
                  "top1_agreement": round(got["top1_agreement"], 4)}]
    job.float_nodes = set(kept)
    final = next((t for t in reversed(tries) if t["kept"] == len(kept)), None)
    met = keep_floor is None or (final is not None and final["mean_cosine"] >= keep_floor)
    where = {e["node"]: e for e in errors}
    out["mixed"] = {
        "floor": keep_floor, "prefer": prefer,
        "kept": [{"node": n, "module": where.get(n, {}).get("module", ""), "op": where.get(n, {}).get("op", ""),
                  "why": "slower in int8" if n in always else "accuracy"} for n in sorted(kept)],
        "simulated_all_int8": {"mean_cosine": round(plain["mean_cosine"], 6),
                               "top1_agreement": round(plain["top1_agreement"], 4)},
        "tries": tries, "simulated_floor_met": met,
        "how": "PyTorch simulation on the held-out clips; the artifact's own figures are the report's",
    }
    return out


EXPLAIN_CLIPS = 8


def _kernel_times(job: QuantJob, graph, converted, baseline: Path, partitioner, runs: int) -> dict | None:
    from converters.backends.executorch.compat import profile_pte
    from converters.backends.executorch.lower import lower_program
    from converters.quantize.explain import depthwise_modules, kernel_times

    example = job.example_input
    with tempfile.TemporaryDirectory(prefix="mobilekit-int8-") as tmp:
        edge, _ = lower_program(converted, example, partitioner)
        pte = Path(tmp) / "int8.pte"
        with torch.no_grad():
            pte.write_bytes(edge.to_executorch().buffer)
        int8_rows = profile_pte(pte, example, runs)
    fp32_rows = profile_pte(baseline, example, runs)
    return kernel_times(fp32_rows, int8_rows, depthwise_modules(graph))


def _targets_with_float_layers() -> list[str]:
    from converters.backends import TARGETS

    return [t.name for t in TARGETS.values() if any(s.float_layers for s in t.schemes)]


def _check_baseline(baseline: Artifact, tgt: Target, src: SourceModel) -> Artifact:
    m = baseline.manifest
    if m["target"] != tgt.name or m["model"] != src.name or m["input"]["shape"] != src.input_shape \
            or m.get("quantization"):
        raise MobilekitError(f"the baseline artifact {baseline.path} is {m['model']} {m['input']['shape']} for "
                             f"{m['target']}{' (quantized)' if m.get('quantization') else ''}, not fp32 "
                             f"{src.name} {src.input_shape} for {tgt.name}",
                             "pass the fp32 artifact of the same model, input and target, or none")
    return baseline


def _others(tgt: Target, sch: Scheme) -> list[str]:
    return [s for s in schemes_for(tgt.name) if s != sch.name] or ["none"]
