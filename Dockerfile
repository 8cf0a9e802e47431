# syntax=docker/dockerfile:1

# The oci-pypi server as a container image. Configuration is by environment
# only (every flag has an OCI_PYPI_* variable, see README.md); the image holds
# no configuration file and no data.
#
#   docker build -t oci-pypi .
#   docker run --rm -p 8080:8080 -e OCI_PYPI_REGISTRIES=https://ghcr.io oci-pypi
#
# Without registries the local store is served from /data. The image listens on
# 0.0.0.0, beyond loopback, so the local store refuses writes (403) until it has
# users: mount an htpasswd file (bcrypt entries, `htpasswd -nbB NAME PASSWORD`)
# and name it, which also makes reads need a user (OCI_PYPI_LOCAL_PUBLIC_READS=true
# opens reads again):
#
#   docker run --rm -p 8080:8080 -v pypi-data:/data \
#     -v "$PWD/htpasswd:/etc/oci-pypi/htpasswd:ro" \
#     -e OCI_PYPI_LOCAL_USERS=/etc/oci-pypi/htpasswd oci-pypi
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

# The data directory for the local store, owned by the runtime user (the
# runtime image has no shell to create it).
RUN install -d -m 0750 -o 65532 -g 65532 /out/data

# ---------------------------------------------------------------------------
# Runtime: distroless (glibc and libgcc of the builder's Debian release, CA
# certificates, tzdata, a non-root user 65532; no shell, no package manager).
# ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot

ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=""

LABEL org.opencontainers.image.title="oci-pypi" \
      org.opencontainers.image.description="A private Python package index on top of any OCI registry" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/oci-pypi /usr/local/bin/oci-pypi
COPY LICENSE /usr/share/doc/oci-pypi/LICENSE

# Fails the build if the binary does not run on this base image.
RUN ["/usr/local/bin/oci-pypi", "--help"]

ENV OCI_PYPI_HOST=0.0.0.0 \
    OCI_PYPI_PORT=8080

# Without registries configured the server keeps packages in ./oci-pypi-data (the local OCI
# image-layout store): run from /data, a volume the non-root user owns. Writes to it need a
# user of OCI_PYPI_LOCAL_USERS (see the top of this file).
COPY --from=builder --chown=65532:65532 /out/data /data
WORKDIR /data
VOLUME ["/data"]
USER 65532:65532
EXPOSE 8080

# `oci-pypi healthcheck` GETs /health of the server the same OCI_PYPI_* settings
# describe (port, subpath; over loopback), so the check follows the port and
# subpath given at `docker run -e`, with no shell or curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/oci-pypi", "healthcheck"]

# The server stops cleanly on SIGTERM (docker stop), finishing requests in flight.
ENTRYPOINT ["/usr/local/bin/oci-pypi"]
