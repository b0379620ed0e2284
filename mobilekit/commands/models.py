"""`mobilekit models [NAME]`: the zoo table, or one model's card."""

from __future__ import annotations

import json

import click


@click.command("models")
@click.argument("name", required=False)
@click.option("--family", help="Only models of this family (vlf, vtn, tsn, ...).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--markdown", is_flag=True, help="The table as markdown (for docs).")
def models_cmd(name, family, as_json, markdown):
    """List the model zoo (params, GFLOPs at the default input), or show one model.

    GFLOPs count one multiply-add as one FLOP, as the video papers do; parameters exclude
    any ImageNet classifier (the zoo's heads are sized for the default classes).
    """
    from mobilekit.models import list_models, model_info
    from mobilekit.table import format_table

    if name:
        info = model_info(name)
        if as_json:
            click.echo(json.dumps(info, indent=2))
            return
        for key in ("name", "family", "description", "paper", "paper_params"):
            click.echo(f"{key:14} {info[key]}")
        click.echo(f"{'params':14} {info['params'] / 1e6:.2f}M  ({info['params']:,})")
        click.echo(f"{'GFLOPs':14} {info['gflops']:.2f} at {info['input']['shape']}")
        click.echo(f"{'classes':14} {info['num_classes']} (default; --classes to change)")
        for key, value in info["input"].items():
            click.echo(f"{'input.' + key:14} {value}")
        return
    names = list_models(family)
    if not names:  # a typo in --family must not look like an empty zoo
        from mobilekit.errors import MobilekitError
        from mobilekit.models.registry import get_card

        families = sorted({get_card(n).family for n in list_models()})
        raise MobilekitError(f"no model of family {family!r}", f"choose one of {', '.join(families)}")
    infos = [model_info(n) for n in names]
    if as_json:
        click.echo(json.dumps(infos, indent=2))
        return
    rows = [(i["name"], i["family"], f"{i['params'] / 1e6:.2f}M", f"{i['gflops']:.2f}",
             "x".join(str(d) for d in i["input"]["shape"][1:]), i["num_classes"], i["description"])
            for i in infos]
    click.echo(format_table(rows, ["model", "family", "params", "GFLOPs", "input TxCxHxW",
                                   "classes", "description"], markdown=markdown))


commands = [models_cmd]
