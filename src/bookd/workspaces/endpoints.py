"""REST: /v1/bot-users and /v1/customer-tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from bookd.kit.pagination import Page, Paging32, paged
from bookd.kit.schemas import NO_NUL
from bookd.kit.web import Now, Session, UnitOfWorkRoute, errors
from bookd.workspaces import service as workspaces
from bookd.workspaces.auth import CallerOrCustomer, CurrentCaller
from bookd.workspaces.schemas import (
    BotUserOut,
    BotUserProfile,
    CustomerTokenCreate,
    CustomerTokenIssued,
    CustomerTokenOut,
    CustomerTokensRevoke,
    CustomerTokensRevoked,
)

router = APIRouter(prefix="/v1/bot-users", tags=["bot users"], route_class=UnitOfWorkRoute)

NsPath = Annotated[str, Path(min_length=1, max_length=200, pattern=NO_NUL)]


@router.get("/{bot_user_ns}", response_model=BotUserOut, responses=errors(404))
async def get_bot_user(
    bot_user_ns: NsPath, caller: CallerOrCustomer, session: Session
) -> BotUserOut:
    """The bot user's profile; a customer token reads its own only."""
    user = await workspaces.get_bot_user(
        session, caller.workspace_id, bot_user_ns, customer=caller.customer
    )
    return BotUserOut.model_validate(user)


@router.put("/{bot_user_ns}", response_model=BotUserOut, responses=errors())
async def put_bot_user(
    bot_user_ns: NsPath, body: BotUserProfile, caller: CurrentCaller, session: Session, now: Now
) -> BotUserOut:
    user = await workspaces.put_bot_user(session, caller.workspace_id, bot_user_ns, body, now)
    return BotUserOut.model_validate(user)


# Customer tokens are issued, listed and revoked with the workspace's API key only.
tokens_router = APIRouter(
    prefix="/v1/customer-tokens", tags=["customer tokens"], route_class=UnitOfWorkRoute
)

TokenId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@tokens_router.post("", status_code=201, response_model=CustomerTokenIssued, responses=errors())
async def issue_customer_token(
    body: CustomerTokenCreate, caller: CurrentCaller, session: Session, now: Now
) -> CustomerTokenIssued:
    """A token that opens one bot user's bookings (and only them) until it expires or is revoked.
    The token is in this answer only."""
    issued = await workspaces.issue_customer_token(
        session,
        caller.workspace_id,
        body.bot_user_ns,
        now,
        ttl=timedelta(seconds=body.ttl_seconds),
    )
    out = CustomerTokenOut.of(issued.row, body.bot_user_ns)
    return CustomerTokenIssued(**out.model_dump(), token=issued.token)


@tokens_router.get("", response_model=Page[CustomerTokenOut], responses=errors())
async def list_customer_tokens(
    caller: CurrentCaller,
    session: Session,
    p: Paging32,
    bot_user_ns: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
) -> Page[CustomerTokenOut]:
    """The workspace's customer tokens, expired and revoked ones included; never the tokens
    themselves."""
    rows = await workspaces.list_customer_tokens(
        session, caller.workspace_id, bot_user_ns=bot_user_ns, **p.fetch()
    )
    return paged(rows, p.limit, lambda r: CustomerTokenOut.of(*r), key=lambda r: r[0].id)


@tokens_router.post("/revoke", response_model=CustomerTokensRevoked, responses=errors(404))
async def revoke_customer_tokens(
    body: CustomerTokensRevoke, caller: CurrentCaller, session: Session, now: Now
) -> CustomerTokensRevoked:
    """Revoke every token of the bot user at once."""
    count = await workspaces.revoke_customer_tokens(
        session, caller.workspace_id, body.bot_user_ns, now
    )
    return CustomerTokensRevoked(revoked=count)


@tokens_router.delete("/{token_id}", status_code=204, responses=errors(404))
async def revoke_customer_token(
    token_id: TokenId, caller: CurrentCaller, session: Session, now: Now
) -> Response:
    """Revoke the token: it stops working at once (it stays listed, with `revoked_at`)."""
    await workspaces.revoke_customer_token(session, caller.workspace_id, token_id, now)
    return Response(status_code=204)
