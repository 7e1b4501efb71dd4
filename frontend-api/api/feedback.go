package api

// feedbackRoutes registers the feedback service's routes.
func (s *Server) feedbackRoutes() {}
