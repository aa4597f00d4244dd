"""Options that several command groups share, defined once."""

from pathlib import Path
from typing import Annotated

import typer

Dir = Annotated[Path | None, typer.Option(
    "--dir", help="Checkpoint directory, also where audit.jsonl is kept (default: the "
    "profile's checkpoint_dir, else ./checkpoints).")]
Ref = Annotated[str, typer.Argument(help="A path, a wave name (its newest) or WAVE@N.",
                                    show_default=False)]
Execute = Annotated[bool, typer.Option(
    "--execute", help="Apply the plan. Without it nothing is changed.")]
PlanOut = Annotated[Path | None, typer.Option(
    "--plan-out", help="Save the plan to FILE, to apply later with "
    "`rollback --from-plan FILE --execute`.")]
AllowClamp = Annotated[bool, typer.Option(
    "--allow-clamp", help="Move a target outside the retained offsets to the nearest retained "
    "one (and say so) instead of refusing.")]
