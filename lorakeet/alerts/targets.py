"""Which alert webhook targets may be called: only public addresses (no SSRF into the deployment).

Alert webhooks are user-supplied URLs called from inside the deployment: without these checks
a rule could reach the broker, the database or a cloud metadata service. Set
``LORAKEET_ALERTS__ALLOW_PRIVATE_TARGETS=true`` for receivers on a private network.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


def private_target(url: str) -> str | None:
    """Why ``url`` must not be called (its host is or resolves to a non-public address), or None.

    Alert webhooks are user-supplied URLs called from inside the deployment: without this a
    rule could reach the broker, the database or a cloud metadata service (SSRF). Set
    ``LORAKEET_ALERTS__ALLOW_PRIVATE_TARGETS=true`` for receivers on a private network.
    """
    host = urlsplit(url).hostname
    if not host:
        return "webhook URL has no host"
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"webhook host {host!r} does not resolve: {exc}"
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not is_public(addr):
            return f"webhook host {host!r} is a non-public address ({addr}); private targets are not allowed"
    return None


def private_literal(url: str) -> str | None:
    """Why ``url`` names a non-public host without a DNS lookup (an address literal, or
    ``localhost``), or None. Checked when a rule is saved; names are resolved at delivery."""
    host = urlsplit(url).hostname
    if not host:
        return "webhook URL has no host"
    if host == "localhost" or host.endswith(".localhost"):
        return f"webhook host {host!r} is this machine; private targets are not allowed"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not is_public(addr):
        return f"webhook host {host!r} is a non-public address; private targets are not allowed"
    return None


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def is_public(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Global unicast, and so is any IPv4 address an IPv6 one carries (mapped, 6to4, Teredo,
    NAT64: ``64:ff9b::a9fe:a9fe`` is 169.254.169.254)."""
    if not addr.is_global or addr.is_multicast:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        inner = [addr.ipv4_mapped, addr.sixtofour, addr.teredo[1] if addr.teredo else None]
        if any(addr in net for net in NAT64):
            inner.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
        return all(v is None or is_public(v) for v in inner)
    return True
