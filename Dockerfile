# The dialer service image (docker-compose.yml runs `dialer db upgrade` then `dialer serve`).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# soundfile and soxr wheels carry their own libsndfile / libsoxr (mp3 included): no apt packages.
RUN useradd --system --uid 10001 --home-dir /var/lib/dialer --create-home dialer \
    && mkdir -p /var/lib/dialer/sounds \
    && chown -R dialer:dialer /var/lib/dialer

WORKDIR /app
COPY pyproject.toml README.md ./
COPY ami ./ami
COPY agi ./agi
COPY pacing ./pacing
COPY store ./store
COPY dialer ./dialer
RUN pip install . && rm -rf /root/.cache

USER dialer
WORKDIR /var/lib/dialer
# 4573 FastAGI (for Asterisk), 8080 API and metrics.
EXPOSE 4573 8080
CMD ["sh", "-c", "dialer audio defaults && dialer db upgrade && exec dialer serve"]
