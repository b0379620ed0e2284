"""`mobilekit check`: operator compatibility per target, and the zoo x target support matrix."""

from __future__ import annotations

import json

import click

from converters.backends import TARGETS, checked_target_names, matrix_target_names, profiled_target_names
from mobilekit.commands.options import (ModelSource, TargetName, model_source_options, target_help,
                                        writable_file)
from mobilekit.errors import MobilekitError


def _passes_text() -> str:
    """Every graph pass a target declares (the registry's names; importing the passes needs torch)."""
    return ", ".join(dict.fromkeys(p for t in TARGETS.values() for p in t.graph_passes))


def _rewrites_text() -> str:
    """The module rewrites and graph passes of each checked target, from the registry; targets
    with the same ones share an entry."""
    groups: dict[tuple, list[str]] = {}
    for name in checked_target_names():
        t = TARGETS[name]
        groups.setdefault((*t.rewrites, *t.graph_passes), []).append(name)
    return "; ".join(f"{', '.join(names)}: {', '.join(passes)}" for passes, names in groups.items() if passes)


def _pct(share) -> str:
    return "-" if share is None else f"{share:.1%}"


def _echo_report(result, profile_rows: int) -> None:
    from converters.compat import VERDICT_TEXT
    from mobilekit.table import format_table

    click.echo(f"{result.model} {'x'.join(str(d) for d in result.input_shape)}"
               + (f"  (rewrites applied: {', '.join(result.rewrites)})" if result.rewrites else ""))
    for r in result.reports:
        basis = {"flops": "of FLOPs", "ops": "of ops"}.get(r.share_basis or "", "")
        share = f"; {_pct(r.accelerated_share)} {basis} accelerated" if r.accelerated_share is not None else ""
        ops = f", {_pct(r.op_share)} of ops" if r.share_basis == "flops" and r.op_share is not None else ""
        click.echo(f"\n[{r.target}] {VERDICT_TEXT[r.verdict]}{share}{ops}  ({r.tool}; {r.seconds} s)")
        if r.findings:
            rows = [(f.op, f.count, _modules(f.modules), f.why, f.rewrite or "-", f.fix or "-",
                     f.evidence if f.severity == "fallback" else f"{f.severity} ({f.evidence})")
                    for f in r.findings]
            click.echo(format_table(rows, ["op", "count", "module path(s)", "why", "suggested rewrite", "--fix",
                                           "kind"]))
        for note in r.notes:
            click.echo(f"  note: {note}")
        if r.profile:
            rows = [(p["event"][:60], f"{p['p50_ms']:.3f}", _where(p), p["module"] or "-")
                    for p in r.profile[:profile_rows]]
            click.echo("  per-op p50 on this host (ETDump + Inspector), slowest first:")
            click.echo(format_table(rows, ["event", "p50 ms", "where", "module"]))


def _where(row: dict) -> str:
    if row["delegated"]:
        return "delegated"
    # The call into the delegate is timed as a whole (its ops have their own rows): not a portable op.
    return "delegate call" if row["event"] == "DELEGATE_CALL" else "portable"


def _modules(paths: list[str], limit: int = 3) -> str:
    if not paths:
        return "-"
    more = f" (+{len(paths) - limit} more)" if len(paths) > limit else ""
    return ", ".join(paths[:limit]) + more


@click.command("check")
@model_source_options(model_help="A zoo model, or `all` for the support matrix.")
@click.option("--target", "-t", "targets", multiple=True, default=("all",), show_default=True, metavar="TARGET",
              type=TargetName(checked_target_names()),
              help=f"{target_help(checked_target_names())}. Repeat for several.")
@click.option("--fix", is_flag=True, help="Apply the rewrites the findings name (their --fix column: graph "
                                          f"passes such as {_passes_text()}; TSM's shift) to a fresh copy, "
                                          "re-check, and list what was applied.")
@click.option("--as-written", is_flag=True, help="Skip the rewrites `mobilekit convert` applies per target "
                                                 f"({_rewrites_text()}) and check the model as written.")
@click.option("--profile", is_flag=True, help="xnnpack: run the .pte on this host with ETDump and print the "
                                              "Inspector's per-op p50, delegated or portable.")
@click.option("--strict", is_flag=True, help="Exit 1 when any target is not fully accelerated.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--markdown", is_flag=True, help="With --model all: the support matrix as markdown.")
@click.option("--out", type=click.Path(), callback=writable_file,
              help="With --model all: also write the matrix (markdown) here.")
@click.option("--streaming", is_flag=True,
              help="Check the streaming program(s) `convert --streaming` builds: the step with explicit state "
                   "(movinet_*_stream), or the per-frame encoder and the temporal head (vlf, tsn, vtn, ...).")
@click.option("--state-rank4", is_flag=True, help="With --streaming: the step with its state at rank <= 4 "
                                                  "(as convert --streaming --state-rank4 writes it).")
def check_cmd(source: ModelSource, targets, fix, as_written, profile, strict, as_json, markdown, out,
              streaming=False, state_rank4=False):
    """Which ops of a model each target runs accelerated, which fall back, which cannot convert.

    \b
    Examples:
      mobilekit check --model vlf_b0 --target xnnpack --profile
      mobilekit check --model x3d_xs --frames 4 --size 64 --target xnnpack --fix
      mobilekit check --module my_net.py:Net --input-shape 1,8,3,112,112 --target all --json
      mobilekit check --model all --target all --frames 2 --size 64 --markdown

    Per target: a verdict (runs fully accelerated / runs with fallbacks / cannot convert), the
    share of compute on the accelerated path (FLOPs-weighted for xnnpack; op count for the
    others) and every op that is not, with count, module path(s), why and a suggested rewrite.
    xnnpack uses ExecuTorch's real partitioner and runs the program once; Core ML converts with
    coremltools, and ANE placement is a labelled heuristic unless MLComputePlan (macOS) is there.
    """
    from converters.compat import resolve_targets
    from converters.source import check_model_args

    names = resolve_targets(list(targets))
    check_model_args(source.classes, source.frames, source.size)  # before any model is built (the matrix builds all)
    profiled = profiled_target_names()
    if profile and not set(profiled) & set(names):
        raise MobilekitError(f"--profile times the {' or '.join(profiled)} program per op",
                             f"add --target {profiled[0]}")
    if out and source.model != "all":
        raise MobilekitError("--out writes the support matrix", "use it with --model all, or --json for one model")
    if state_rank4 and not streaming:
        raise MobilekitError("--state-rank4 shapes a streaming step's state", "add --streaming, or drop --state-rank4")
    if streaming:
        return _check_streaming(source, names, fix, as_written, profile, strict, as_json, state_rank4)
    if source.model == "all":
        if source.checkpoint_weights is not None:
            raise MobilekitError("--checkpoint-weights fits one model, not the whole zoo",
                                 "give --model NAME with it")
        if "all" in targets:  # the matrix's columns (a slow partitioner's target is checked one model at a time)
            names = matrix_target_names()
        return _matrix(names, source.frames, source.size, source.classes, fix, markdown, as_json, out, strict)
    from tqdm import tqdm

    from converters.compat import check

    # the official weights loaded into the zoo model, once
    what = source.model if source.checkpoint_weights is None else source.resolve()
    with tqdm(total=len(names), desc="check", unit="target", file=click.get_text_stream("stderr"),
              dynamic_ncols=True, leave=False) as bar:
        def started(name):
            if bar.n or bar.postfix:
                bar.update(1)
            bar.set_postfix_str(name)

        result = check(what, names, fix=fix, profile=profile, **source.library_kwargs(), on_target=started,
                       as_written=as_written)
        bar.update(1)
    _finish(result, as_json, strict, profile_rows=20)


def _finish(result, as_json: bool, strict: bool, profile_rows: int) -> None:
    """Print a check's reports (JSON or text); --strict exits 1 unless every one is fully accelerated."""
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _echo_report(result, profile_rows=profile_rows)
    if strict and not result.clean:
        bad = [r.target for r in result.reports if r.verdict != "accelerated"]
        click.secho(f"strict: not fully accelerated on {', '.join(bad)}", fg="red", err=True)
        raise SystemExit(1)


def _check_streaming(source: ModelSource, names, fix, as_written, profile, strict, as_json, state_rank4):
    """`check --streaming`: one report per (target, streaming program), printed like any model's."""
    from converters.streaming import check_stream

    for flag, given in (("--model all", source.model == "all"), ("--fix", fix), ("--as-written", as_written),
                        ("--profile", profile)):
        if given:
            raise MobilekitError(f"{flag} does not combine with --streaming yet",
                                 f"drop {flag}, or check the clip model without --streaming")
    src = source.resolve()  # bad input fails here, before any work
    click.echo(f"checking the streaming program(s) of {src.name} on {', '.join(names)} ...", err=True)
    result = check_stream(src, names, state_rank4=state_rank4)
    _finish(result, as_json, strict, profile_rows=0)


def _matrix(names, frames, size, classes, fix, markdown, as_json, out, strict):
    from pathlib import Path

    from tqdm import tqdm

    from converters.compat.matrix import build_matrix, render_matrix
    from mobilekit.models import list_models

    models = list_models()
    bar = tqdm(total=len(models) * len(names), desc="matrix", unit="check", file=click.get_text_stream("stderr"),
               dynamic_ncols=True)

    def step(model, target):
        bar.set_postfix_str(f"{model} {target}")
        bar.update(1)

    matrix = build_matrix(models, names, num_frames=frames, image_size=size, num_classes=classes, fix=fix,
                          on_step=step)
    bar.close()
    if as_json:
        click.echo(json.dumps(matrix, indent=2))
    else:
        text = render_matrix(matrix, markdown=markdown)
        click.echo(text)
        if out:
            Path(out).write_text(render_matrix(matrix, markdown=True) + "\n")
    if strict and any(c["verdict"] != "accelerated" for row in matrix["rows"] for c in row["cells"].values()):
        raise SystemExit(1)


commands = [check_cmd]
