"""REST: /v1/bot-users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from bookd.kit.schemas import NO_NUL
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.workspaces import service as workspaces
from bookd.workspaces.auth import CurrentCaller
from bookd.workspaces.schemas import BotUserOut, BotUserProfile

router = APIRouter(prefix="/v1/bot-users", tags=["bot users"], route_class=UnitOfWorkRoute)

NsPath = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]


@router.get("/{bot_user_ns}", response_model=BotUserOut, responses=errors(404))
async def get_bot_user(bot_user_ns: NsPath, caller: CurrentCaller, session: Session) -> BotUserOut:
    return BotUserOut.model_validate(
        await workspaces.get_bot_user(session, caller.workspace_id, bot_user_ns)
    )


@router.put("/{bot_user_ns}", response_model=BotUserOut, responses=errors())
async def put_bot_user(
    bot_user_ns: NsPath, body: BotUserProfile, caller: CurrentCaller, session: Session, now: Now
) -> BotUserOut:
    user = await workspaces.put_bot_user(session, caller.workspace_id, bot_user_ns, body, now)
    return BotUserOut.model_validate(user)
