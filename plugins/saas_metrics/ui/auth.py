"""Airflow authentication for the plugin app, which Airflow 3.3 mounts without any of its own.

A request is authenticated with the same JWT the Airflow UI and API use: the `Authorization:
Bearer` header, or the `_token` cookie that the UI sets after login. The token is validated by
Airflow's own code (`airflow.api_fastapi.core_api.security.get_user`, which calls the
configured auth manager). The auth manager must then allow the user to view the Airflow website
(`AccessView.WEBSITE`); the simple auth manager allows every role from viewer up.

Airflow is imported inside the functions, so that importing the plugin in other Airflow
processes (scheduler, workers) does not load the API server's modules.
"""

from __future__ import annotations

import logging

from fastapi import HTTPException, Request, status

log = logging.getLogger(__name__)


class LoginRequired(Exception):
    """The request carries no valid Airflow token; `detail` is Airflow's reason."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def authenticate(request: Request):
    """Return the Airflow user of the request; raise LoginRequired or a 403 HTTPException.

    Airflow's validation raises 401 for a missing or expired token and 403 for an invalid one.
    Both mean that the caller is not logged in, so both become LoginRequired here. A 403 is
    left for a valid user whom the auth manager does not allow to see the website.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    try:
        user = await get_user(request=request, _oauth_token=None, bearer_credentials=credentials)
    except HTTPException as error:
        raise LoginRequired(str(error.detail)) from None
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        log.warning("User %s may not view the Airflow website; request to %s rejected", user, request.url.path)
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail="Your Airflow user may not view the Airflow website, so it may not view this page either.",
        )
    return user


async def require_user(request: Request):
    """FastAPI dependency for the JSON and file endpoints: 401 without a valid Airflow token."""
    try:
        return await authenticate(request)
    except LoginRequired as error:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=f"Not authenticated: {error.detail}. Log in to Airflow, or send an Airflow token "
            "as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None


def login_url(request: Request) -> str:
    """Return the auth manager's login page, which sends the user back to this request's URL."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=str(request.url))
