"""Authentication: rate limits, passwords and tokens around the login-session use cases
(``okane_core.app.logins``). None of it knows HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from okane_core.app import credentials, logins, profiles, reads
from okane_core.app.verification import Sent
from okane_core.errors import (
    AuthenticationFailed,
    InvalidCredentials,
    InvalidRequest,
    RateLimited,
    StepUpRequired,
    WrongPassword,
)
from okane_core.ids import new_id
from okane_core.users.domain import normalize_email, normalize_phone
from okane_core.users.views import UserRecord
from okane_user_api.auth.revocation import Revocations
from okane_user_api.auth.tokens import Principal, hash_refresh_token, new_refresh_token
from okane_user_api.state import AppState


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: UserRecord


async def _count_signup(state: AppState, client: str) -> None:
    await state.limiter.enforce(
        "signup-address",
        client,
        state.settings.signups_per_address,
        3600,
        message="too many sign-ups from this address",
    )


async def signup(
    state: AppState, *, name: str, phone: str, email: str | None, password: str, client: str
) -> UserRecord | Sent:
    """Throttled per client address. With contacts to verify (the default) the account is
    made only when the phone's code comes back (:func:`confirm_signup`), and the answer (a
    code sent) is the same whether or not the phone or email is taken: the owner is told
    instead, and the password is hashed either way. Without, a taken phone or email is
    refused before any password is hashed, and its owner is told."""
    await _count_signup(state, client)
    clean_phone = normalize_phone(phone)
    clean_email = None if email is None else normalize_email(email)
    if state.settings.verify_contacts == "required":
        return await profiles.request_sign_up(
            state.okane,
            name=name,
            phone=clean_phone,
            email=clean_email,
            password_hash=await state.passwords.hash(password),
        )
    await profiles.refuse_taken(state.okane, phone=clean_phone, email=clean_email)
    password_hash = await state.passwords.hash(password)
    return await profiles.sign_up(
        state.okane,
        name=name,
        phone=phone,
        email=clean_email,
        password_hash=password_hash,
    )


async def confirm_signup(state: AppState, *, phone: str, code: str, client: str) -> UserRecord:
    """The phone's code of a sign-up: the account is made (the caller signs it in)."""
    await _count_signup(state, client)
    return await profiles.confirm_sign_up(state.okane, phone=normalize_phone(phone), code=code)


async def start_session(state: AppState, user: UserRecord, *, method: str) -> IssuedTokens:
    session_id = new_id()
    refresh = new_refresh_token()
    await logins.open_session(
        state.okane.uow,
        session_id=session_id,
        user_id=user.id,
        credential_hash=hash_refresh_token(refresh),
        method=method,
        lifetime_seconds=state.settings.refresh_token_seconds,
    )
    access = state.tokens.issue(user.id, session_id, is_admin=user.is_admin)
    return IssuedTokens(access, refresh, state.tokens.lifetime_seconds, user)


def _identify(login: str) -> tuple[str, str]:
    """The account a login names; one that is neither a phone nor an email is still counted
    (under the text typed) and answered like a wrong password."""
    value = login.strip()
    try:
        if "@" in value:
            return "email", normalize_email(value, field="login")
        return "phone", normalize_phone(value, field="login")
    except InvalidRequest:
        return "email", value.lower()


async def login(
    state: AppState, *, login: str, password: str, client: str, code: str | None = None
) -> IssuedTokens:
    """Password login: the checks of :func:`authenticate`, then a new session."""
    user = await authenticate(state, login=login, password=password, client=client, code=code)
    return await start_session(state, user, method="password")


async def authenticate(
    state: AppState, *, login: str, password: str, client: str, code: str | None = None
) -> UserRecord:
    """The user with this login and password. A wrong password and an unknown login are
    indistinguishable. Guessing is bounded without letting a stranger lock the owner out:

    - every attempt counts per client address;
    - failures count per (account, address): that address alone is throttled for that account;
    - failures count per account from everywhere: past a higher bound, only addresses that
      signed in to the account before (its owner's devices) may still try, and any other
      address with a code sent to the account's proven phone or email (a step-up,
      :func:`start_step_up`).
    """
    settings = state.settings
    limiter = state.limiter
    window = settings.login_window_seconds
    await limiter.enforce(
        "login-address",
        client,
        settings.login_attempts_per_address,
        window,
        message="too many login attempts from this address",
    )
    by, value = _identify(login)
    account = f"{by}:{value}"
    pair = f"{account}|{client}"
    wait = await limiter.peek("login-failures", pair, settings.login_attempts_per_account)
    if wait is not None:
        raise RateLimited("too many failed logins for this account", retry_after=wait)
    if await limiter.peek("login-known", pair, 1) is None:
        wait = await limiter.peek("login-account", account, settings.login_failures_per_account)
        if wait is not None and not (
            code and await credentials.use_step_up(state.okane, by, value, code)
        ):
            raise StepUpRequired(
                "this account has had many failed logins; ask for a code to its verified "
                "phone or email (POST /v1/auth/login/code) and log in with it",
                retry_after=wait,
                field="code" if code else None,
            )
    user = await reads.find_user(state.okane.uow, by, value)
    if not await state.passwords.verify(None if user is None else user.password_hash, password):
        await limiter.hit("login-failures", pair, settings.login_attempts_per_account, window)
        await limiter.hit("login-account", account, settings.login_failures_per_account, window)
        raise InvalidCredentials("the login or the password is wrong")
    assert user is not None
    await limiter.reset("login-failures", pair)
    await limiter.hit("login-known", pair, 1, settings.login_known_address_days * 86_400)
    return user


async def refresh(state: AppState, revocations: Revocations, token: str) -> IssuedTokens:
    """Rotate the refresh token. The same token presented again within
    ``refresh_retry_seconds`` (a retry after a lost answer) gets the same new refresh token;
    later, it means the token was copied: the whole session is revoked."""
    new_refresh = state.tokens.next_refresh_token(token)
    rotation = await logins.rotate(
        state.okane.uow,
        old_hash=hash_refresh_token(token),
        new_hash=hash_refresh_token(new_refresh),
        grace_seconds=state.settings.refresh_retry_seconds,
    )
    if not rotation.rotated:
        await revocations.publish(rotation.user_id, rotation.session_id)
        raise AuthenticationFailed("the refresh token was already used; the session is ended")
    user = await reads.get_user(state.okane.uow, rotation.user_id)
    if user is None:
        raise AuthenticationFailed("the user no longer exists")
    access = state.tokens.issue(user.id, rotation.session_id, is_admin=user.is_admin)
    return IssuedTokens(access, new_refresh, state.tokens.lifetime_seconds, user)


async def logout(state: AppState, revocations: Revocations, principal: Principal) -> None:
    await logins.end_session(state.okane.uow, principal.session_id)
    await revocations.publish(principal.user_id, principal.session_id)


async def change_password(
    state: AppState, revocations: Revocations, principal: Principal, *, current: str, new: str
) -> None:
    """Needs the current password (a stolen access token alone cannot lock the owner out);
    every other session ends; the owner is told."""
    settings = state.settings
    subject = str(principal.user_id)
    wait = await state.limiter.peek("password-change", subject, settings.login_attempts_per_account)
    if wait is not None:
        raise RateLimited("too many wrong passwords; wait and try again", retry_after=wait)
    user = await reads.get_user(state.okane.uow, principal.user_id)
    if user is None or not await state.passwords.verify(user.password_hash, current):
        await state.limiter.hit(
            "password-change",
            subject,
            settings.login_attempts_per_account,
            settings.login_window_seconds,
        )
        raise WrongPassword("the current password is not right", field="current_password")
    ended = await credentials.change_password(
        state.okane, user.id, await state.passwords.hash(new), keep=principal.session_id
    )
    await revocations.publish_many(ended.user_id, ended.sessions)


async def _reset_limits(state: AppState, login: str, client: str) -> tuple[str, str]:
    settings = state.settings
    await state.limiter.enforce(
        "reset-address",
        client,
        settings.login_attempts_per_address,
        settings.login_window_seconds,
        message="too many password resets from this address",
    )
    return _identify(login)


async def start_reset(state: AppState, *, login: str, client: str) -> None:
    """Answered the same whether or not the account exists or has a proven address."""
    by, value = await _reset_limits(state, login, client)
    settings = state.settings
    await state.limiter.enforce(
        "reset-account",
        f"{by}:{value}",
        settings.codes_per_hour,
        3600,
        message="too many password resets for this account",
    )
    await credentials.start_reset(state.okane, by, value)


async def finish_reset(
    state: AppState, revocations: Revocations, *, login: str, code: str, new: str, client: str
) -> None:
    by, value = await _reset_limits(state, login, client)
    ended = await credentials.finish_reset(
        state.okane, by, value, code, await state.passwords.hash(new)
    )
    await revocations.publish_many(ended.user_id, ended.sessions)


async def start_step_up(state: AppState, *, login: str, client: str) -> None:
    """Send a sign-in code to the account's proven phone or email; answered alike for every
    login, throttled like resets."""
    by, value = await _reset_limits(state, login, client)
    await state.limiter.enforce(
        "step-up-account",
        f"{by}:{value}",
        state.settings.codes_per_hour,
        3600,
        message="too many sign-in codes for this account",
    )
    await credentials.start_step_up(state.okane, by, value)
