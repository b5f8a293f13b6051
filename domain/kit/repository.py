"""The base of every repository: built once per session, methods take domain arguments only."""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession


class Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> Self:
        return cls(session)
