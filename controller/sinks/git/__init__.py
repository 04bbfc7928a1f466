"""The git status sink: result files under `status/<env>/`, committed."""
