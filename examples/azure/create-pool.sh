#!/usr/bin/env bash
# Creates a Python session pool with its MCP server enabled (the tutorials'
# template, deploy.json beside this file), then checks that azure-sandbox-lsp
# can use it. Usage: create-pool.sh <resource group> <pool name> <location>
# Needs the Azure CLI, signed in (`az login`). The pool costs money while it
# exists: delete the resource group when you are done.
set -euo pipefail
group="${1:?resource group}" pool="${2:?pool name (lowercase letters and digits)}" location="${3:?location, e.g. eastus}"
here="$(cd "$(dirname "$0")" && pwd)"
az provider register --namespace Microsoft.App
az extension add --name containerapp --allow-preview true --upgrade
az group create --name "$group" --location "$location" --output none
az deployment group create --resource-group "$group" --template-file "$here/deploy.json" \
    --parameters name="$pool" location="$location" --output none
subscription="$(az account show --query id --output tsv)"
export AZURE_SANDBOX_POOL="$subscription/$group/$pool"
echo "export AZURE_SANDBOX_POOL=$AZURE_SANDBOX_POOL"
# No endpoint or key to copy: the tool reads both from the pool.
azure-sandbox-lsp doctor
