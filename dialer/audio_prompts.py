"""The default prompts shipped in ``dialer/sounds/`` (regenerate: ``scripts/make_prompts.py``).

Each is played by Asterisk as ``dialer/<name>``. Campaigns replace them with their own
recordings (``dialer audio import FILE --name NAME``).
"""

from __future__ import annotations

DEFAULT_PROMPTS: dict[str, str] = {
    # The safe-harbor message played to a live person no agent could take within 2 s.
    "drop": "Sorry, all of our agents are busy right now. We will call you back later. "
    "To stop receiving these calls, please call us back and ask to be removed. Goodbye.",
    # Left on an answering machine when the campaign says so.
    "machine": "Hello, this is a message from our customer service team. "
    "Please call us back at your convenience. Thank you, goodbye.",
    # The voice-broadcast message of an agentless campaign.
    "agentless": "Hello, this is an automated message from our customer service team. "
    "To speak to an agent, press 1. To stop receiving these calls, press 9.",
    "survey-question": "Please rate the call you just had, from 1 for very poor, "
    "to 5 for excellent. Press a number from 1 to 5 now.",
    "survey-thanks": "Thank you for your answer. Goodbye.",
    "survey-invalid": "Sorry, that is not a valid answer. Please press a number from 1 to 5.",
    "out-of-hours": "Thank you for calling. Our office is closed at the moment. "
    "Please call again during our opening hours. Goodbye.",
    # Played by [dialer-inbound] itself when Asterisk cannot reach the dialer's FastAGI.
    "unavailable": "Thank you for calling. We cannot take your call at the moment. "
    "Please call again in a few minutes. Goodbye.",
}
