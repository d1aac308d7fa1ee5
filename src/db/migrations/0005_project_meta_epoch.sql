-- Version 5: a project's name or default branch is part of what the token
-- cache holds for its keys (`whoami`), so changing them bumps the auth epoch.
CREATE TRIGGER auth_epoch_project_meta AFTER UPDATE OF name, default_branch ON projects
BEGIN UPDATE auth_epoch SET n = n + 1 WHERE id = 1; END;
