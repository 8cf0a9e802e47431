# syntax=docker/dockerfile:1

# The oci-pypi server as a container image. Configuration is by environment
# only (every flag has an OCI_PYPI_* variable, see README.md); the image holds
# no configuration file and no data.
#
#   docker build -t oci-pypi .
#   docker run --rm -p 8080:8080 -e OCI_PYPI_REGISTRIES=https://ghcr.io oci-pypi
#
# Multi-arch (linux/amd64, linux/arm64) builds need nothing platform-specific:
# each platform builds natively (under emulation when it is not the host's).

# ---------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# reqwest uses rustls with aws-lc-rs, whose aws-lc-sys compiles AWS-LC with
# the C toolchain this image already ships (gcc, make); on x86_64 and aarch64
# it needs neither cmake nor clang nor Go.
WORKDIR /build

# 1. Dependencies only: this layer is rebuilt only when Cargo.toml or
#    Cargo.lock change. A dummy lib.rs and main.rs stand in for the crate.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && echo '//! placeholder' > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# 2. The crate itself. COPY keeps the sources' own timestamps, which may be
#    older than the dummy build: touch them so cargo rebuilds the crate.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && install -D -m 0755 target/release/oci-pypi /out/oci-pypi

# ---------------------------------------------------------------------------
# Runtime: glibc (same Debian release as the builder), CA certificates for
# HTTPS registries, curl for the health check, an unprivileged user.
# ---------------------------------------------------------------------------
FROM debian:bookworm-slim

ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""

LABEL org.opencontainers.image.title="oci-pypi" \
      org.opencontainers.image.description="A private Python package index on top of any OCI registry" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# Debian's security updates are wanted here, so the packages are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 oci-pypi \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin oci-pypi

COPY --from=builder /out/oci-pypi /usr/local/bin/oci-pypi
COPY LICENSE /usr/share/doc/oci-pypi/LICENSE

# Fails the build if the binary does not run on this base image.
RUN ["/usr/local/bin/oci-pypi", "--help"]

ENV OCI_PYPI_HOST=0.0.0.0 \
    OCI_PYPI_PORT=8080

# Without registries configured the server keeps packages in ./oci-pypi-data (the local OCI
# image-layout store): run from /data, a volume the non-root user owns.
RUN mkdir -p /data && chown 10001:10001 /data
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8080

# GET /health answers 200 while the server runs; it lives under the subpath
# when OCI_PYPI_SUBPATH is set. The shell (not Docker) expands the variables,
# so the check follows the port and subpath given at `docker run -e`.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/bin/sh", "-c", "curl -fsS -o /dev/null \"http://127.0.0.1:${OCI_PYPI_PORT:-8080}${OCI_PYPI_SUBPATH%/}/health\" || exit 1"]

# The server stops cleanly on SIGTERM (docker stop), finishing requests in flight.
ENTRYPOINT ["/usr/local/bin/oci-pypi"]
