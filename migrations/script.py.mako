"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
% if "ExactString(" in (upgrades or "") + (downgrades or ""):
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import TypeCompiler


# Defined here, not imported from the live schema, so that this revision's DDL never
# changes after it is released.
class ExactString(sa.String):
    """VARCHAR compared byte for byte, trailing spaces included (binary NO PAD collation)."""

    cache_ok = True


@compiles(ExactString, "mysql")
@compiles(ExactString, "mariadb")
def _exact_string_mysql(type_: ExactString, compiler: TypeCompiler, **kw: Any) -> str:
    mariadb = getattr(compiler.dialect, "is_mariadb", False)
    collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
    return f"VARCHAR({type_.length}) COLLATE {collation}"


@compiles(ExactString)
def _exact_string_default(type_: ExactString, compiler: TypeCompiler, **kw: Any) -> str:
    return f"VARCHAR({type_.length})"

% endif
revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
