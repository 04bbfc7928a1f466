-- Argo CD health of a kubeflow.org/Experiment, read from the conditions Katib and
-- hpo-controller write: Failed -> Degraded, Succeeded -> Healthy, anything else (no
-- status yet, Created, Running, Restarting) -> Progressing.
-- Written in base Lua only (tostring and ..): a check from argocd-cm runs without the
-- string library unless useOpenLibs is set for the kind.
local health = {}
health.status = "Progressing"
health.message = "Waiting for the experiment to start"
if obj.status == nil or obj.status.conditions == nil then
  return health
end
local latest = {}
for _, condition in ipairs(obj.status.conditions) do
  if condition.type ~= nil then
    latest[condition.type] = condition
  end
end
local function holds(kind)
  return latest[kind] ~= nil and latest[kind].status == "True"
end
local function told(kind, otherwise)
  local message = latest[kind].message
  if message == nil or message == "" then
    return otherwise
  end
  return message
end
if holds("Failed") then
  health.status = "Degraded"
  health.message = told("Failed", "The experiment failed")
  return health
end
if holds("Succeeded") then
  health.status = "Healthy"
  health.message = told("Succeeded", "The experiment succeeded")
  local reason = latest["Succeeded"].reason
  if reason ~= nil and reason ~= "" then
    health.message = reason .. ": " .. health.message
  end
  return health
end
if holds("Restarting") then
  health.message = told("Restarting", "The experiment is restarting")
  return health
end
if holds("Running") then
  local budget = "?"
  if obj.spec ~= nil and obj.spec.maxTrialCount ~= nil then
    budget = tostring(obj.spec.maxTrialCount)
  end
  local succeeded = obj.status.trialsSucceeded
  if succeeded == nil then
    succeeded = 0
  end
  health.message = "Running: " .. tostring(succeeded) .. " of " .. budget .. " trials succeeded"
  return health
end
if holds("Created") then
  health.message = told("Created", "The experiment is created")
end
return health
