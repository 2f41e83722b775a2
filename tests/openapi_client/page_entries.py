"""A small program a client author would write with the client generated from /openapi.json:
register, log in, write entries, then page through them by passing each page's `next_cursor`
back as `cursor`. It must type-check under `mypy --strict` with no cast and no ignore (the
document is exact), and run against the live service.

Usage: python page_entries.py BASE_URL EMAIL PASSWORD COUNT -- prints the ids it paged through,
one per line."""

import sys

from echodiary_client import AuthenticatedClient, Client
from echodiary_client.api.auth import login, register
from echodiary_client.api.entries import create_entry, list_entries
from echodiary_client.models import Entry, EntryPage, LoginRequest, NewEntry, RegisterRequest, TokenResponse


def main(base_url: str, email: str, password: str, count: int) -> list[str]:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    register.sync(client=anonymous, body=RegisterRequest(email=email, password=password))
    tokens = login.sync(client=anonymous, body=LoginRequest(email=email, password=password))
    if not isinstance(tokens, TokenResponse):
        raise SystemExit(f"login failed: {tokens}")
    client = AuthenticatedClient(base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True)
    for n in range(count):
        created = create_entry.sync(client=client, body=NewEntry(content=f"entry {n}", title=None))
        if not isinstance(created, Entry):
            raise SystemExit(f"create failed: {created}")
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = list_entries.sync(client=client, limit=2) if cursor is None else list_entries.sync(
            client=client, limit=2, cursor=cursor
        )
        if not isinstance(page, EntryPage):
            raise SystemExit(f"list failed: {page}")
        seen.extend(str(entry.id) for entry in page.items)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


if __name__ == "__main__":
    for entry_id in main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])):
        print(entry_id)
