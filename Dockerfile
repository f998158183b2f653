# kaudit: one static binary on an empty base (docs/eks.md).
#
#   docker build -t kaudit .
#
# Build stage: the GNU target with a statically linked C runtime (musl is not used), so the
# binary needs no libc, no /etc/ssl (TLS falls back to the bundled Mozilla roots) and no shell.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --bin kaudit --target x86_64-unknown-linux-gnu \
 && cp target/x86_64-unknown-linux-gnu/release/kaudit /kaudit

# Run stage: nothing but the binary; non-root (65532, distroless' "nonroot" uid).
FROM scratch
COPY --from=build /kaudit /kaudit
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/kaudit"]
CMD ["watch", "cloudwatch", "--config", "/etc/kaudit/config.yaml"]
