package api

// analyticsRoutes registers the analytics service's routes.
func (s *Server) analyticsRoutes() {}
