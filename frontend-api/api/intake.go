package api

// intakeRoutes registers the intake service's routes.
func (s *Server) intakeRoutes() {}
