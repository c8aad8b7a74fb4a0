"""The contract between the ACD and the Asterisk dialplan: the contexts and variables the
CTI relies on, and the AMI actions that move a call between them.

The dialplan contract (deploy/asterisk, and the simulator's contexts):
- the IVR leaves `CTI_QUEUE` (and optionally `CTI_PRIORITY`) on the caller's channel and
  sends it to `[cti-hold]`, which sets `CTI_WAITING=1` and plays music on hold: that
  VarSet is the call's arrival in the ACD (the interaction id, Asterisk's Linkedid, is
  the ACD's call id);
- `ConnectToAgent` = `Setvar CTI_AGENT_ENDPOINT`, `Setvar CTI_RING_TIMEOUT`, `Redirect`
  to `[cti-connect]`, which `Dial`s the agent; `DialEnd ANSWER` is the answer, and when
  Dial returns without one the dialplan sets `CTI_DIAL_RESULT=${DIALSTATUS}` and goes
  back to `[cti-hold]`;
- `CancelOffer` = `Redirect` back to `[cti-hold]` (Asterisk ends the Dial);
- `OverflowCall` = `Redirect` to `[cti-callback-offer]`, `[cti-voicemail]` or
  `[cti-fallback]`; the callback offer sets `CTI_CALLBACK=<number>` when accepted;
- `PlaceCallback` = async `Originate` of the agent's endpoint into `[cti-callback]` with
  `CTI_CALL_ID` and `CTI_CALLBACK_NUMBER`, which dials the citizen;
- the caller's `Hangup` is an abandon, or the end of the conversation;
- hold = one `Redirect` of the caller to `[cti-held]` (music) and, as its ExtraChannel,
  of the agent's leg to `[cti-agent-held]` (the phone stays up); resume = the `Bridge`
  action of the two (transcript 07: when one of them hangs up, the other goes on at
  the next priority of its context, which hangs up or runs the survey). An agent's leg
  that hangs up while its caller is on hold ends the conversation and the caller goes
  back in line (`ReturnToLine`);
- transfer out = `Setvar CTI_TRANSFER_NUMBER`, `Redirect` to `[cti-transfer-out]`.
"""

from __future__ import annotations

from cti.ami.service import ActionSender

HOLD, CONNECT, CALLBACK = "cti-hold", "cti-connect", "cti-callback"
HELD, AGENT_HELD, TRANSFER_OUT = "cti-held", "cti-agent-held", "cti-transfer-out"
OVERFLOW_CONTEXTS = {
    "callback": "cti-callback-offer",
    "voicemail": "cti-voicemail",
    "fallback": "cti-fallback",
}


async def redirect(ami: ActionSender, channel: str, context: str) -> None:
    """Send the channel to `s,1` of `context`."""
    await ami.send_action(
        {
            "Action": "Redirect",
            "Channel": channel,
            "Context": context,
            "Exten": "s",
            "Priority": "1",
        }
    )


async def requeue_channel(ami: ActionSender, channel: str, queue: str) -> None:
    """Put the caller's channel back on hold as a new arrival in `queue`."""
    await ami.send_action(
        {"Action": "Setvar", "Channel": channel, "Variable": "CTI_QUEUE", "Value": queue}
    )
    await redirect(ami, channel, HOLD)
