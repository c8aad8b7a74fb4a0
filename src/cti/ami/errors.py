"""Errors of the AMI layer. Each has a stable `code` for callers and logs."""

from __future__ import annotations


class AmiError(Exception):
    code = "ami_error"


class AmiConnectError(AmiError):
    """Asterisk could not be reached (refused, timed out, not an AMI peer)."""

    code = "ami_unreachable"


class AmiLoginError(AmiError):
    """Asterisk refused the credentials."""

    code = "ami_login_failed"


class AmiConnectionLost(AmiError):
    """The link dropped while the action was in flight; it was NOT sent again."""

    code = "ami_connection_lost"


class AmiFenced(AmiError):
    """This CTI no longer leads (cti.ha): it sends Asterisk nothing that acts."""

    code = "ami_fenced"


class AmiTimeout(AmiError):
    code = "ami_timeout"


class AmiActionError(AmiError):
    """Asterisk answered `Response: Error`; the message is Asterisk's own."""

    code = "ami_action_failed"

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message}")
        self.action = action
        self.message = message


class OriginateFailed(AmiActionError):
    """An async Originate ended with `OriginateResponse: Failure`."""

    code = "originate_failed"

    def __init__(
        self, reason_code: int, reason: str, channel: str, cause: int | None = None
    ) -> None:
        told = f", cause {cause}" if cause is not None else ""
        super().__init__("Originate", f"{channel}: {reason} (Reason {reason_code}{told})")
        self.reason_code = reason_code
        self.reason = reason
        self.channel = channel
        self.cause = cause  # the channel's hang-up cause (Q.850), when it was asked for
