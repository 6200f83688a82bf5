# Builds the manager image: `docker build -t outrigger:local .` (the Makefile's IMG).

FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# The toolchain of the image, never one downloaded because of go.mod.
ENV GOTOOLCHAIN=local

# Modules first, in their own layer, so that changing the code does not download them again.
COPY go.mod go.sum ./
RUN go mod download

# The rest of the source (.dockerignore leaves out bin/, config/, test data and the like).
COPY . .

# Static binary, without paths of the build machine nor symbol tables. TARGETOS/TARGETARCH are set by buildx for
# multi-platform builds; a plain build targets the builder's own platform.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags='-s -w' -o manager ./cmd/manager

# No shell, no package manager: just the binary, CA certificates and a non-root user.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
