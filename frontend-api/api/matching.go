package api

// matchingRoutes registers the matching service's routes.
func (s *Server) matchingRoutes() {}
