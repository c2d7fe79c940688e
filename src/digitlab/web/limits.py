"""What one request may cost the server: bytes, pixels, JSON nesting and seconds.

A server set up for a load balancer needs these as settings (`digitlab serve
--max-image-bytes --max-pixels --timeout`, and for the sample store `--samples-per-minute
--max-samples --max-sample-bytes`), so they live in one frozen object that
the app factory takes; the defaults are the limits the service has always had.
Every check runs before the expensive step it guards (body.py, bounded_read.py), and
every refusal says which limit was hit and the flag that sets it. This module imports
nothing heavy: `digitlab serve --help` shows its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DigitlabError
from ..recognition.bounds import MAX_SIDE

# The JSON the API accepts is one flat object ({"image": "..."}); nothing legitimate
# comes close to this depth, and the refusal happens before a recursive parser runs.
MAX_JSON_DEPTH = 32


@dataclass(frozen=True)
class Limits:
    max_image_bytes: int = 5 * 1024 * 1024
    max_pixels: int = MAX_SIDE * MAX_SIDE  # the decoder's own bound (4096x4096) is also the highest allowed
    timeout_s: float = 30.0  # reading one image; a request past it gets 503
    # POST /api/samples feeds `finetune`: one client must not fill the disk (sample_quota.py)
    samples_per_minute: int = 30  # per client address and worker; more: 429
    max_samples: int = 100_000  # in the store; then 507
    max_sample_bytes: int = 512 * 1024  # one stored drawing (a page's PNG is about 10 KB); larger: 413

    def __post_init__(self):
        if self.max_image_bytes < 1:
            raise DigitlabError(f"--max-image-bytes must be at least 1, not {self.max_image_bytes}")
        if not 1 <= self.max_pixels <= MAX_SIDE * MAX_SIDE:
            raise DigitlabError(f"--max-pixels must be between 1 and {MAX_SIDE * MAX_SIDE:,} ({MAX_SIDE}x{MAX_SIDE}, "
                                f"the decoder's bound), not {self.max_pixels:,}")
        for flag, value in [("--samples-per-minute", self.samples_per_minute), ("--max-samples", self.max_samples),
                            ("--max-sample-bytes", self.max_sample_bytes)]:
            if value < 1:
                raise DigitlabError(f"{flag} must be at least 1, not {value}")
        if not self.timeout_s > 0:
            raise DigitlabError(f"--timeout must be a positive number of seconds, not {self.timeout_s}")

    @property
    def max_body_bytes(self) -> int:
        """A base64 data URL of the largest image, plus JSON or multipart framing."""
        return self.max_image_bytes * 4 // 3 + 64 * 1024
