-- Up Migration
-- Forward only, like 0001. Static resources (what resources/list shows) are pinned too, under kind 'resource' and
-- their URI (docs/pinning.md): their descriptions reach the model as a tool's do.
ALTER TABLE pinned_definitions DROP CONSTRAINT pinned_definitions_kind_check;
ALTER TABLE pinned_definitions ADD CONSTRAINT pinned_definitions_kind_check
  CHECK (kind IN ('tool', 'prompt', 'resource', 'resource_template', 'discovery'));
