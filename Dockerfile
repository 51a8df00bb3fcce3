# syntax=docker/dockerfile:1
#
# probesim's container images, from one build of the three binaries:
#
#   docker build -t probesim:dev .                                  # the default image
#   docker build --target lb-source -t probesim-lb-source:dev .     # the agent's lb-source variant
#
# - default (the last stage): distroless (glibc, no shell, no package manager), user `nonroot`
#   (65532). It holds probesim-agent, probesim-collector and probesim-lab; it runs the collector
#   and the agent in its default mode (`--source node`), which needs no capability.
# - `lb-source`: the same binaries on Debian slim with iproute2 and iptables, which the agent's
#   `--source lb-source` mode runs to build its source namespace on the node
#   (manifests/components/lb-source selects it).
# probesim-lab is packaged for `probesim-lab list` and for completeness: a lab run needs root,
# network namespaces, iproute2, iptables and nginx on the machine, so it is not meant to run from
# this image in a cluster.
#
# The Rust version is the workspace's (rust-toolchain.toml); scripts/validate-manifests checks
# that they agree. The build and runtime stages share Debian 12 (bookworm), so the binaries
# find the glibc they were linked against.

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
ARG RUST_VERSION
# RUSTUP_TOOLCHAIN: the image's toolchain as it is; rust-toolchain.toml names the same version
# but would make rustup add rustfmt and clippy, which a release build does not need.
# STRIP=debuginfo: smaller binaries; symbol names stay, so a backtrace still names its functions.
ENV RUSTUP_TOOLCHAIN=${RUST_VERSION} \
    CARGO_TERM_COLOR=never \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
        -p probesim-agent -p probesim-collector -p probesim-lab \
 && mkdir -p /out /state \
 && cp target/release/probesim-agent target/release/probesim-collector \
       target/release/probesim-lab /out/

FROM docker.io/library/debian:bookworm-slim AS lb-source
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
COPY --from=build --chown=65532:65532 /state /var/lib/probesim
# The DaemonSet runs this variant as UID 0 with NET_ADMIN, NET_RAW and SYS_ADMIN; by itself the
# image runs as an unprivileged user.
USER 65532:65532

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The default home of the collector's database and the agent's spool, writable by the image's
# user for `docker run`; in Kubernetes a volume is mounted there.
COPY --from=build --chown=65532:65532 /state /var/lib/probesim
USER 65532:65532
