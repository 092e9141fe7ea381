# McpEdge edge container: .NET 10 SDK build stage, ASP.NET Core runtime stage, non-root, port 8080.
#   docker build -t mcpedge .
#   docker run -p 8080:8080 -v "$PWD/my-edge.json:/etc/mcpedge/mcpedge.json:ro" mcpedge
# Configuration: the mounted file (MCPEDGE_CONFIG), overridden by environment variables
# (McpEdge__Servers__github__Upstreams__0=...). Linted in the tests (tests/deploy).
ARG DOTNET_VERSION=10.0

FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG NUGET_SOURCE=https://api.nuget.org/v3/index.json
WORKDIR /src
# Restore first, from the project files only, so the layer is cached until a dependency changes.
# Directory.Build.targets restores YARP 2.1.0 by PackageDownload, as every local build does.
COPY Directory.Build.props Directory.Build.targets ./
COPY src/McpEdge/McpEdge.csproj src/McpEdge/
RUN dotnet restore src/McpEdge/McpEdge.csproj --source "${NUGET_SOURCE}"
COPY src/McpEdge/ src/McpEdge/
RUN dotnet publish src/McpEdge/McpEdge.csproj --configuration Release --no-restore --output /app

FROM mcr.microsoft.com/dotnet/aspnet:${DOTNET_VERSION} AS runtime
LABEL org.opencontainers.image.title="McpEdge" \
      org.opencontainers.image.description="Edge reverse proxy for MCP servers, built on YARP" \
      org.opencontainers.image.source="https://github.com/mcpedge/mcpedge"
WORKDIR /app
COPY --from=build /app ./
COPY config/mcpedge.default.json /etc/mcpedge/mcpedge.json
# Listen on every interface inside the container; the edge's own default is loopback only.
# No diagnostics IPC socket: the root filesystem may be read-only.
ENV ASPNETCORE_URLS=http://+:8080 \
    MCPEDGE_CONFIG=/etc/mcpedge/mcpedge.json \
    DOTNET_EnableDiagnostics=0
# 9090: the admin listener, when McpEdge__Admin__Url=http://+:9090 turns it on (README, "The admin listener").
EXPOSE 8080 9090
# The base image's non-root user (UID 1654).
USER $APP_UID
# SIGTERM starts the drain: in-flight POSTs finish and SSE streams close with retry: within
# McpEdge:Streaming:ShutdownGracePeriod (default 25 s). Give the container at least that plus a
# few seconds before SIGKILL (docker stop --time 30; Kubernetes terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
ENTRYPOINT ["dotnet", "McpEdge.dll"]
