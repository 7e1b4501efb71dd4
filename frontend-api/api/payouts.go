package api

// payoutsRoutes registers the payouts service's routes.
func (s *Server) payoutsRoutes() {}
