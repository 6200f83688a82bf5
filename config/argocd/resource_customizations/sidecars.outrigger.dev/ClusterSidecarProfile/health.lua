-- Argo CD health for Outrigger's SidecarProfile and ClusterSidecarProfile (one script for both kinds).
-- Progressing: no status yet, status.observedGeneration behind metadata.generation, Reconciling=True, or Ready
--   not True for another reason. Degraded: Stalled=True (needs a person), or Degraded=True (a sidecar not ready
--   or restarting) once nothing is rolling out; a rollout in waves that halted is Stalled (RolloutHalted).
--   Suspended: a rollout in waves paused (Ready=False, reason WavesPaused). Healthy: Ready=True at the current
--   generation.
-- Reconciling is read before Degraded: while a Deployment rolls the sidecars out, new pods' sidecars are briefly
-- not ready; a rollout that never finishes becomes Stalled (RolloutStuck), and so Degraded.
-- Uses only Lua's base and table libraries, the ones Argo CD opens for health scripts.

local hs = {}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function isTrue(c)
  return c ~= nil and c.status == "True"
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for Outrigger to report the profile's status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if observed == nil or observed < 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for Outrigger to observe the profile"
  return hs
end
if generation ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for Outrigger to observe generation " .. tostring(generation) ..
    " (status is for generation " .. tostring(observed) .. ")"
  return hs
end

local conditions = obj.status.conditions
local ready = findCondition(conditions, "Ready")
local reconciling = findCondition(conditions, "Reconciling")
local stalled = findCondition(conditions, "Stalled")
local degraded = findCondition(conditions, "Degraded")

if isTrue(stalled) then
  hs.status = "Degraded"
  hs.message = messageOf(stalled, "Outrigger cannot make progress without a person: see status.needsAttention")
  return hs
end
if ready ~= nil and ready.status == "False" and ready.reason == "WavesPaused" then
  hs.status = "Suspended"
  hs.message = messageOf(ready, "the rollout in waves is paused: set spec.rollout.paused to false to go on")
  return hs
end
if isTrue(reconciling) then
  hs.status = "Progressing"
  hs.message = messageOf(reconciling, "Outrigger is injecting or rolling out the sidecars")
  return hs
end
if isTrue(degraded) then
  hs.status = "Degraded"
  hs.message = messageOf(degraded, "a sidecar is not healthy: see status.needsAttention")
  return hs
end
if isTrue(ready) then
  hs.status = "Healthy"
  hs.message = messageOf(ready, "every selected workload carries the current sidecars")
  return hs
end

hs.status = "Progressing"
if ready == nil then
  hs.message = "Waiting for Outrigger to set the Ready condition"
else
  hs.message = messageOf(ready, "Ready is " .. tostring(ready.status))
end
return hs
