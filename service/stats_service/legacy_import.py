"""``stats-service token import-legacy``: bring the original service's tokens over.

See :mod:`stats_service.auth.legacy` for the two modes. The command prints one
line per legacy token (user, legacy token id, outcome, our token id) and never a
secret or a token: reissued tokens go to the ``--tokens-out`` file (mode 0600).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stats_service.auth.access import AccessFile
from stats_service.auth.keys import write_private_file
from stats_service.auth.legacy import import_legacy, read_legacy_access_file
from stats_service.auth.tokens import KNOWN_SCOPES, TokenSigner
from stats_service.errors import ConfigurationError

if TYPE_CHECKING:
    from stats_service.settings import Settings

__all__ = ["add_import_legacy_command"]


def add_import_legacy_command(
    commands: argparse._SubParsersAction[Any],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Register ``import-legacy`` under the ``token`` commands."""
    command = commands.add_parser(
        "import-legacy",
        parents=parents,
        help="import the original service's access file (accept its tokens or reissue them)",
    )
    command.add_argument("access_file", type=Path, help="the original service's access.json")
    command.add_argument(
        "--mode",
        required=True,
        choices=("accept", "reissue"),
        help="accept: keep the legacy tokens working (needs accept_legacy_tokens); "
        "reissue: create a new token for each",
    )
    command.add_argument(
        "--scope",
        action="append",
        choices=sorted(KNOWN_SCOPES),
        help="scopes of the imported tokens; repeatable; default write",
    )
    command.add_argument(
        "--tokens-out",
        type=Path,
        help="reissue: file (mode 0600) that receives the new tokens as JSON",
    )
    command.set_defaults(command=_import_legacy)


def _import_legacy(settings: Settings, args: argparse.Namespace) -> int:
    signer: TokenSigner | None = None
    if args.mode == "reissue":
        if args.tokens_out is None:
            raise ConfigurationError("--mode reissue needs --tokens-out FILE for the new tokens")
        signer = TokenSigner(settings.check_serving())
    try:
        entries = read_legacy_access_file(args.access_file)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {args.access_file}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    tokens_out: Path | None = args.tokens_out

    def write_tokens(issued: list[dict[str, str]]) -> None:
        assert tokens_out is not None
        write_private_file(tokens_out, (json.dumps(issued, indent=2) + "\n").encode())

    results = import_legacy(
        entries,
        access=AccessFile(settings.resolved_access_file),
        mode=args.mode,
        scopes=args.scope or ["write"],
        legacy_secret_file=settings.resolved_legacy_secret_file,
        signer=signer,
        now=int(time.time()),
        write_tokens=write_tokens,
    )
    rows = [("USERNAME", "LEGACY TOKEN ID", "OUTCOME", "TOKEN ID")]
    rows += [(r.username, r.legacy_token_id, r.outcome, r.token_id or "-") for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        line = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        sys.stdout.write(line.rstrip() + "\n")
    if args.mode == "reissue" and any(r.outcome == "reissued" for r in results):
        sys.stderr.write(f"new tokens written to {tokens_out} (mode 0600)\n")
    if args.mode == "accept" and not settings.accept_legacy_tokens:
        sys.stderr.write(
            "legacy tokens are recorded; set accept_legacy_tokens = true "
            "(STATS_ACCEPT_LEGACY_TOKENS=true) and restart the service to accept them\n"
        )
    return 1 if any(r.outcome == "signature mismatch" for r in results) else 0
