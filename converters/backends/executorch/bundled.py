"""ExecuTorch's own check set: a BundledProgram (.bpte) made from an artifact's program and its
check set (mobilekit/artifact/checkset.py), and ExecuTorch's own runtime check of it.

    info = write_bundled("artifacts/tsn_b0-xnnpack")      # writes model.bpte beside model.pte
    bundled_manifest_field(folder, info)                   # records it in manifest.json
    result = verify_bundled("artifacts/tsn_b0-xnnpack/model.bpte")   # result["status"] == "agrees"

The bundle holds the .pte's bytes unchanged and one test case per check set clip of method
`forward` (inputs, expected outputs = the eager PyTorch fp32 outputs). It is built from the
.pte file (BundledProgram's `pte_file_path`), so no program manager has to be kept from the
lowering. An app that embeds ExecuTorch's bundled_program library runs it with
`verify_method_outputs(method, bundle, i, rtol, atol)`; here `verify_bundled` calls the
pybindings' `BundledModule.verify_result_with_bundled_expected_output`, which loads test case
i into the method, executes it and compares every output element with
|got - expected| <= atol + rtol x |expected|. The tolerance is the check set's: rtol 0 and atol
the clip's max_abs_diff bound, which is exactly the check set's own `max_abs_diff` rule. An
int8 (top1_cosine) check set has no element-wise bound, so it is refused: ExecuTorch's check
would call every correct quantized program wrong.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from mobilekit.errors import MobilekitError

BUNDLED_FILE = "model.bpte"
METHOD = "forward"
HOST_DELEGATES = ("xnnpack", None)  # what the pybindings here run (no Core ML, no Vulkan)
MAX_CASES = 10_000  # with a given atol the suite's end is found by asking past it
_FIX = "bundle an fp32/fp16 ExecuTorch artifact from `mobilekit convert --target xnnpack` (checkset/ included)"


def _open(artifact_dir: str | Path):
    """(artifact, check set) of an ExecuTorch artifact folder, both verified."""
    from mobilekit.artifact import open_artifact
    from mobilekit.artifact.checkset import read_check_set

    art = open_artifact(artifact_dir)
    if art.manifest.runtime != "executorch" or art.file.suffix != ".pte":
        raise MobilekitError(f"{art.folder} is a {art.manifest.target} artifact ({art.file.name}); a "
                             f"BundledProgram wraps an ExecuTorch .pte", _FIX)
    check = read_check_set(art.folder, art.manifest.check_set)
    rule = check.meta["tolerance"]["rule"]
    if rule != "max_abs_diff":
        raise MobilekitError(f"{art.folder} is {check.meta['precision']}: its check set's rule is {rule}, which "
                             "has no element-wise bound for ExecuTorch's allclose check", _FIX)
    return art, check


def write_bundled(artifact_dir: str | Path, name: str = BUNDLED_FILE) -> dict:
    """Write `name` (model.bpte) into the artifact folder: its .pte and its check set as one
    test suite of `forward`. Returns what `bundled_manifest_field` records. Nothing is
    written when the artifact or its check set is not intact (MobilekitError)."""
    import numpy as np
    import torch
    from executorch.devtools.bundled_program.config import MethodTestCase, MethodTestSuite
    from executorch.devtools.bundled_program.core import BundledProgram
    from executorch.devtools.bundled_program.serialize import serialize_from_bundled_program_to_flatbuffer

    from mobilekit.artifact import sha256_file

    art, check = _open(artifact_dir)
    if Path(name).name != name or name in (art.file.name, "manifest.json"):
        raise MobilekitError(f"bundle name {name!r} is not a new plain file name", f"use {BUNDLED_FILE}")
    cases = [MethodTestCase(inputs=[torch.from_numpy(np.array(check.inputs[i]))],
                            expected_outputs=[torch.from_numpy(np.array(e[i])) for e in check.expected])
             for i in range(len(check))]
    bundle = BundledProgram(None, [MethodTestSuite(method_name=METHOD, test_cases=cases)],
                            pte_file_path=str(art.file))
    data = serialize_from_bundled_program_to_flatbuffer(bundle)
    path = art.folder / name
    fd, tmp = tempfile.mkstemp(dir=art.folder, prefix=f".{name}.")  # atomic: never a half-written bundle
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    tol = check.meta["tolerance"]
    return {"file": name, "size_bytes": len(data), "sha256": sha256_file(path), "method": METHOD,
            "test_cases": len(check), "program_sha256": art.manifest.sha256,
            "rtol": 0.0, "atol": list(tol["max_abs_diff"]),
            "description": "ExecuTorch BundledProgram: the .pte and the check set's clips and expected "
                           "outputs; verify test case i with rtol 0 and atol[i] (the check set's max_abs_diff)"}


def bundled_manifest_field(artifact_dir: str | Path, info: dict) -> dict:
    """Record `info` (from write_bundled) as manifest.json's `bundled` field, written
    atomically; returns the manifest dict. The field must exist in the manifest schema
    (mobilekit/artifact/schema.py: ArtifactManifest.bundled) or the manifest is refused."""
    from mobilekit.artifact import read_manifest, write_manifest

    folder = Path(artifact_dir)
    manifest = read_manifest(folder).model_dump(mode="json")
    manifest["bundled"] = info
    write_manifest(folder, manifest)
    return manifest


def _tolerance(path: Path, atol) -> list[float]:
    if atol is not None:
        return [float(atol)] if isinstance(atol, (int, float)) else [float(a) for a in atol]
    manifest = path.parent / "manifest.json"
    try:
        meta = json.loads(manifest.read_text())
        cs = meta["check_set"]
        return [float(a) for a in cs["tolerance"]["max_abs_diff"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MobilekitError(f"no tolerance for {path.name}: {manifest} has no check_set max_abs_diff ({e})",
                             "pass atol=, or keep the bundle in its artifact folder") from e


def verify_bundled(path: str | Path, atol: float | list[float] | None = None, rtol: float = 0.0) -> dict:
    """Run every test case of a .bpte with ExecuTorch's own check (pybindings'
    BundledModule.verify_result_with_bundled_expected_output) on the host. `atol`: one bound,
    or one per test case; default: the check set's max_abs_diff in the manifest beside it.
    Returns {status: agrees / disagrees, test_cases, failed: [case indices], detail, rtol,
    atol, check}; MobilekitError when the file cannot be loaded at all."""
    path = Path(path)
    if not path.is_file():
        raise MobilekitError(f"no bundled program at {path}", "write one with write_bundled(artifact_dir)")
    bounds = _tolerance(path, atol)
    try:
        from executorch.extension.pybindings.portable_lib import _load_bundled_program_from_buffer
    except ImportError as e:
        raise MobilekitError(f"this ExecuTorch has no bundled program support ({e})",
                             "install executorch 1.5.1 (pip install executorch==1.5.1)") from e
    from converters.job import quiet

    with quiet():
        try:
            bundle = _load_bundled_program_from_buffer(path.read_bytes())
        except Exception as e:
            raise MobilekitError(f"ExecuTorch could not load the bundled program {path}: {e}",
                                 "write it again with write_bundled (the file may be damaged)") from e
    failed, detail, n = [], None, 0
    while (atol is not None and n < MAX_CASES) or n < len(bounds):  # the manifest's: one bound per case
        tol = bounds[min(n, len(bounds) - 1)]
        error = None
        with quiet() as log:  # ExecuTorch says why only in its C++ log
            try:
                bundle.verify_result_with_bundled_expected_output(METHOD, n, rtol, tol)
            except RuntimeError as e:
                error = e
        if error is not None:
            text = " ".join(log.getvalue().split())
            if "testset_idx" in text and "out of range" in text:
                if n == 0 or atol is None:  # fewer cases than the check set has clips
                    raise MobilekitError(f"{path} has {n} test cases, its manifest's check set {len(bounds)}",
                                         "write it again with write_bundled") from error
                break
            failed.append(n)
            detail = detail or (f"test case {n}: {error} at atol {tol:.3g}, rtol {rtol:g}"
                                + (f" ({text[-200:]})" if text else ""))
        n += 1
    return {"status": "disagrees" if failed else "agrees", "test_cases": n, "failed": failed,
            "detail": detail, "rtol": rtol, "atol": bounds[:n] if len(bounds) >= n else bounds,
            "check": "executorch BundledModule.verify_result_with_bundled_expected_output"}


def bundle_artifact(artifact_dir: str | Path, record: bool = True) -> dict:
    """What `mobilekit convert --bundled` does per ExecuTorch artifact: write model.bpte,
    verify it with ExecuTorch's own check, and (`record`) put it in the manifest's `bundled`.
    A bundle ExecuTorch does not verify is removed and raised (MobilekitError): the program
    and its check set disagree, which the host validation should already have said."""
    from mobilekit.artifact import read_manifest

    info = write_bundled(artifact_dir)
    path = Path(artifact_dir) / info["file"]
    delegate = read_manifest(artifact_dir).delegate
    if delegate not in HOST_DELEGATES:  # written, but only a device can run its check
        info["verified"] = {"status": "skipped", "reason": f"the host ExecuTorch has no {delegate} backend; "
                                                           "the app verifies it on the device"}
        if record:
            bundled_manifest_field(artifact_dir, info)
        return info
    result = verify_bundled(path)
    if result["status"] != "agrees":
        path.unlink(missing_ok=True)
        raise MobilekitError(f"ExecuTorch's own check of {path.name} failed on {len(result['failed'])} of "
                             f"{result['test_cases']} test cases: {result['detail']}",
                             "run `mobilekit bench --artifact` on the folder to see the check set's figures")
    info["verified"] = {"status": result["status"], "test_cases": result["test_cases"], "check": result["check"]}
    if record:
        bundled_manifest_field(artifact_dir, info)
    return info
